"""Benchmark `adme label` against a naive transformers pipeline loop (not a test).

Same model, same paragraphs, one run:
  1. ingest the labels at --spl (default: the shipped sample, data/spl and data/new) into a
     fresh DuckDB file with `adme fetch`'s code (or copy --db);
  2. build a randomly initialised small BERT classifier (WordPiece trained on those paragraphs,
     adme.pretrain's helpers; five ADME classes), unless --model names a trained one (give one
     for the agreement: an untrained model labels nearly everything alike, see the printed
     label counts);
  3. time `adme.label.label` at each --precision (length-sorted batches, dynamic padding,
     bulk DuckDB writes; on the CPU `auto` is reduced precision) and a loop over
     `transformers.pipeline("text-classification")` (the full-precision model) called one
     paragraph at a time with the same truncation, alternating, --rounds times;
  4. print the throughputs, each precision's ratio to the pipeline (goal >= 3x) in wall time and
     in CPU time (steadier on a shared machine: with --threads 1 a busy neighbour stretches
     the wall time of whichever side it overlaps, not the CPU seconds) and the fraction
     of its labels identical to the full-precision pipeline's (goal >= 0.995 for what runs by
     default; a pair whose top two pipeline probabilities are within 1e-4 counts as a tie).

    python benchmarks/label.py --precision auto full int8 bf16 --threads 2
    python benchmarks/label.py --spl ../shared/spl/labels --device cuda --batch-size 256
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
from transformers.utils import logging as transformers_logging

from adme import store
from adme.device import resolve_device
from adme.label import label
from adme.precision import PRECISIONS, resolve_precision
from adme.pretrain import new_bert, train_wordpiece
from adme.rules import FIVE_CLASSES

TIE = 1e-4
PIPE = "pipeline"
transformers_logging.set_verbosity_error()  # the head-initialised load report is expected here


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spl",
        type=Path,
        nargs="+",
        default=[Path("data/spl"), Path("data/new")],
        help="folders of labels to ingest",
    )
    parser.add_argument("--db", type=Path, help="an already ingested DuckDB file (copied)")
    parser.add_argument("--model", type=Path, help="a trained classifier folder (default: build)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--workers", type=int, default=None, help="adme label tokeniser workers (default: its own)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["auto", "full"],
        choices=PRECISIONS,
        help="adme label precisions to time (auto: what adme label does by default)",
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads for both sides (default: torch's own)"
    )
    parser.add_argument("--hidden", type=int, default=256, help="small BERT hidden size")
    parser.add_argument("--layers", type=int, default=4, help="small BERT encoder layers")
    parser.add_argument("--vocab", type=int, default=8000, help="WordPiece vocabulary size")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate both timings this often; the median "
        "ratio is reported, so a busy machine skews neither side",
    )
    return parser.parse_args()


def ingested_database(args: argparse.Namespace, work: Path) -> Path:
    """A DuckDB file holding the paragraphs to label, fresh for this run."""
    db = work / "bench.duckdb"
    if args.db:
        shutil.copy(args.db, db)
    else:
        from adme.fetch import fetch_from_path

        for folder in args.spl:
            fetch_from_path(db, folder, work / "cache", progress=False)
    return db


def stored_paragraphs(db: Path) -> tuple[list[str], list[str]]:
    """(paragraph ids, texts) in id order."""
    with store.connect(db, read_only=True) as con:
        rows = con.execute("SELECT paragraph_id, text FROM paragraphs ORDER BY paragraph_id")
        pairs = rows.fetchall()
    return [p for p, _ in pairs], [t for _, t in pairs]


def small_classifier(texts: list[str], folder: Path, args: argparse.Namespace) -> Path:
    """A randomly initialised small BERT with a five-class head, saved as an HF folder."""
    torch.manual_seed(0)
    tokenizer = train_wordpiece(texts, args.vocab, model_max_length=args.max_length)
    encoder = new_bert(
        tokenizer, hidden_size=args.hidden, num_layers=args.layers, num_heads=4, max_position=512
    )
    encoder.save_pretrained(folder / "mlm")
    tokenizer.save_pretrained(folder / "mlm")
    model = AutoModelForSequenceClassification.from_pretrained(
        folder / "mlm",
        num_labels=len(FIVE_CLASSES),
        id2label=dict(enumerate(FIVE_CLASSES)),
        label2id={name: i for i, name in enumerate(FIVE_CLASSES)},
    )
    model.save_pretrained(folder / "clf")
    tokenizer.save_pretrained(folder / "clf")
    return folder / "clf"


def time_adme_label(
    db: Path, model_dir: Path, args: argparse.Namespace, precision: str, relabel: bool
) -> tuple[float, float, dict]:
    """Paragraphs per wall second and per CPU second of adme.label, and its labels by id.

    Like the pipeline's, the wall time excludes loading the model; the CPU time includes it
    (and quantising it, for int8), which counts against adme.
    """
    cpu = time.process_time()
    summary = label(
        db,
        model_dir,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
        workers=args.workers,
        precision=precision,
        relabel=relabel,
        progress=False,
    )
    cpu_rate = summary.paragraphs / (time.process_time() - cpu)
    with store.connect(db, read_only=True) as con:
        stored = dict(con.execute("SELECT paragraph_id, label FROM predictions").fetchall())
    return summary.paragraphs_per_second, cpu_rate, stored


def naive_pipeline(model_dir: Path, args: argparse.Namespace):
    """A text-classification pipeline on the device adme label would use."""
    device = resolve_device(args.device)
    return pipeline(
        "text-classification",
        model=AutoModelForSequenceClassification.from_pretrained(model_dir),
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        device=device,
    )


def time_pipeline(pipe, texts: list[str], args: argparse.Namespace) -> tuple[float, float, list]:
    """Paragraphs per wall and per CPU second of the pipeline called once per paragraph, and
    its scores per paragraph."""
    started, cpu = time.perf_counter(), time.process_time()
    results = [
        pipe(text, truncation=True, max_length=args.max_length, top_k=None) for text in texts
    ]
    if pipe.device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(texts) / wall, len(texts) / cpu, results


def agreement(ids: list[str], stored: dict, piped: list) -> tuple[float, int, int]:
    """(fraction identical, disagreements, disagreements that are ties in the pipeline)."""
    differ = ties = 0
    for paragraph_id, scores in zip(ids, piped, strict=True):
        ranked = sorted(scores, key=lambda s: -s["score"])
        if stored[paragraph_id] != ranked[0]["label"]:
            differ += 1
            ties += ranked[0]["score"] - ranked[1]["score"] < TIE
    return 1 - differ / len(ids), differ, ties


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = ingested_database(args, work)
        ids, texts = stored_paragraphs(db)
        if not texts:
            raise SystemExit(f"no paragraphs to label in {args.db or args.spl}")
        model_dir = args.model or small_classifier(texts, work, args)
        pipe = naive_pipeline(model_dir, args)
        resolved = {p: resolve_precision(p, pipe.device) for p in args.precision}
        print(
            f"{len(texts)} paragraphs, model {model_dir.name}, device {pipe.device}, "
            f"batch {args.batch_size}, max_length {args.max_length}, workers {args.workers}, "
            f"torch threads {torch.get_num_threads()}, "
            f"precision {', '.join(f'{p} = {r}' for p, r in resolved.items())}"
        )
        pipe(texts[:8], truncation=True, max_length=args.max_length)  # warm-up, untimed
        loads = [os.getloadavg()[0]]
        # per precision (and "pipeline"): (paragraphs per wall second, per CPU second) by round
        rates: dict[str, list[tuple[float, float]]] = {p: [] for p in [*args.precision, PIPE]}
        stored: dict[str, dict] = {}
        for round_ in range(args.rounds):
            line = []
            for precision in args.precision:
                wall, cpu, stored[precision] = time_adme_label(
                    db, model_dir, args, precision, relabel=bool(round_ or stored)
                )
                rates[precision].append((wall, cpu))
                line.append(f"adme {precision} {wall:.1f}/s")
            wall, cpu, piped = time_pipeline(pipe, texts, args)
            rates[PIPE].append((wall, cpu))
            loads.append(os.getloadavg()[0])
            print(f"round {round_ + 1}: {', '.join(line)}, pipeline {wall:.1f}/s (wall)")
    top = Counter(max(scores, key=lambda s: s["score"])["label"] for scores in piped)
    # an untrained model gives (nearly) every paragraph one label: agreement is then trivial
    print(f"full-precision labels: {dict(sorted(top.items()))}")
    print(f"pipeline, one by one {max(w for w, _ in rates[PIPE]):9.1f} paragraphs/s best")
    for precision in args.precision:
        wall, cpu = (
            statistics.median(
                a[i] / p[i] for a, p in zip(rates[precision], rates[PIPE], strict=True)
            )
            for i in (0, 1)
        )
        same, differ, ties = agreement(ids, stored[precision], piped)
        print(
            f"adme {precision:4} ({resolved[precision]:4}) "
            f"{max(w for w, _ in rates[precision]):9.1f} paragraphs/s best (incl. DuckDB read, "
            f"write); speed-up {wall:.2f}x wall, {cpu:.2f}x CPU time (medians of rounds; goal "
            f">= 3x); same label as full precision {same:.4f} ({differ} differ, {ties} of them "
            "ties)"
        )
    print(f"1-minute load average during the run: {min(loads):.1f} to {max(loads):.1f}")


if __name__ == "__main__":
    main()
