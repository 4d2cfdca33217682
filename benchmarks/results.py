"""The paper's results table on an adme database: tfidf, vanilla, ldam, two-stage.

For each split (natural 85/15, and `--ratio 0.1` imbalance) and each method, trains one run per
seed with `adme.train.train` and prints mean ± standard error over seeds of micro-F1, macro-F1
and per-class F1 on the test part, plus seconds per epoch. A user would run, e.g.:

    adme fetch --from ../shared/spl/labels --db data/full.duckdb
    adme pretrain --db data/full.duckdb --output models/adme-bert-small
    python benchmarks/results.py --db data/full.duckdb --model models/adme-bert-small

Splits are (re)built as `results-natural` and `results-ratio0.1`; models go under --output.

`--from-db` trains nothing: it reads the `runs` and `metrics` tables that `adme train` wrote
(e.g. after the CLI commands in benchmarks/RESULTS.md) and prints the same table, so the
numbers come from the database rather than from this process:

    python benchmarks/results.py --db data/full.duckdb --from-db --splits natural,ratio01
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

from adme.runs import TrainSummary, mean_se
from adme.split import make_split
from adme.train import train

SPLITS = {
    "results-natural": {"method": "natural"},
    "results-ratio0.1": {"method": "ratio", "ratio": 0.1},
}


def seconds_per_epoch(summary: TrainSummary, epochs: int, stage1_epochs: int) -> float:
    """Mean wall seconds per training epoch over the seeds (stage 1 epochs count too)."""
    per_run = epochs + (stage1_epochs if summary.method == "two-stage" else 0)
    spans = [(r.finished - r.started).total_seconds() for r in summary.runs]
    return sum(spans) / len(spans) / max(per_run, 1)


def cell(mean: float, se: float | None) -> str:
    return f"{mean:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def table(rows: list[tuple[str, TrainSummary, float]]) -> str:
    """Markdown table: one row per split and method."""
    classes = rows[0][1].classes
    header = ["split", "method", "micro-F1", "macro-F1", *classes, "s/epoch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for split, summary, per_epoch in rows:
        f1 = summary.test_f1()
        values = [cell(*f1["micro"]), cell(*f1["macro"]), *(cell(*f1[c]) for c in classes)]
        lines.append(
            f"| {split} | {summary.method} | " + " | ".join(values) + f" | {per_epoch:.1f} |"
        )
    return "\n".join(lines)


METHOD_ORDER = ("tfidf", "vanilla", "ldam", "drw", "two-stage")


def table_from_db(db: Path, splits: list[str], model: str | None = None) -> str:
    """The same markdown table, from the test rows of `metrics` for every run of `splits`.

    One row per (split, method, model); seconds per epoch is a run's wall time (loading, both
    stages, scoring validation and test, saving) divided by its epochs (stage 1 epochs count).
    """
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute(
        "SELECT run_id, split, method, model, params, started, finished FROM runs "
        "WHERE split IN (SELECT unnest(?)) ORDER BY started",
        [splits],
    ).fetchall()
    f1 = {
        (run_id, cls): value
        for run_id, cls, value in con.execute(
            "SELECT run_id, class, f1 FROM metrics WHERE part = 'test'"
        ).fetchall()
    }
    classes = [
        c
        for (c,) in con.execute(
            "SELECT class FROM metrics WHERE part = 'test' AND class NOT IN ('micro', 'macro') "
            "GROUP BY class ORDER BY min(rowid)"
        ).fetchall()
    ]
    con.close()
    groups: dict[tuple[str, str, str], list] = {}
    for run_id, split, method, run_model, params, started, finished in runs:
        if model is not None and method != "tfidf" and run_model != model:
            continue
        groups.setdefault((split, method, run_model), []).append(
            (run_id, json.loads(params), started, finished)
        )
    header = ["split", "method", "seeds", "micro-F1", "macro-F1", *classes, "s/epoch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def order(key: tuple[str, str, str]) -> tuple:
        split, method, _ = key
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return (splits.index(split), rank)

    for key in sorted(groups, key=order):
        split, method, _ = key
        members = groups[key]
        names = ["micro", "macro", *classes]
        values = [cell(*mean_se([f1[(m[0], n)] for m in members])) for n in names]
        if method == "tfidf":
            per_epoch = "-"
        else:
            spans = []
            for _, params, started, finished in members:
                n = params["epochs"] + (params["stage1_epochs"] if method == "two-stage" else 0)
                spans.append((finished - started).total_seconds() / max(n, 1))
            per_epoch = f"{sum(spans) / len(spans):.0f}"
        lines.append(
            f"| {split} | {method} | {len(members)} | " + " | ".join(values) + f" | {per_epoch} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--model", help="pre-trained encoder folder or hub id")
    parser.add_argument("--methods", default="tfidf,vanilla,ldam,two-stage")
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--seeds", default="7,42,106")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--stage1-epochs", type=int, default=3)
    parser.add_argument("--stage1-lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path, default=Path("models/results"))
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--from-db",
        action="store_true",
        help="train nothing: build the table from the runs already stored in --db",
    )
    args = parser.parse_args()
    if args.from_db:
        markdown = table_from_db(args.db, args.splits.split(","), model=None)
        print(markdown)
        if args.markdown:
            args.markdown.write_text(markdown + "\n")
        return
    if not args.model:
        parser.error("--model is required unless --from-db")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    rows = []
    for split in args.splits.split(","):
        summary = make_split(args.db, split, seed=42, replace=True, **SPLITS[split])
        print("\n".join(summary.lines()))
        for method in args.methods.split(","):
            result = train(
                args.db,
                split=split,
                model=None if method == "tfidf" else args.model,
                method=method,
                output=args.output / split / method,
                seeds=seeds,
                epochs=args.epochs,
                lr=args.lr,
                stage1_epochs=args.stage1_epochs,
                stage1_lr=args.stage1_lr,
                batch_size=args.batch_size,
                max_length=args.max_length,
                device=args.device,
            )
            per_epoch = seconds_per_epoch(result, args.epochs, args.stage1_epochs)
            rows.append((split, result, per_epoch))
            print(result.render(), flush=True)
    markdown = table(rows)
    print(markdown)
    if args.markdown:
        args.markdown.write_text(markdown + "\n")


if __name__ == "__main__":
    main()
