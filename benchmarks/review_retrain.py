"""What reviews buy: import half of the gold file as reviews, retrain, score on the other half.

The gold file (../shared/gold/unlabelled_gold.jsonl) holds hand labels for paragraphs the rule
leaves unlabelled. Its agreed rows are cut in two by a seeded hash of the normalised text (not
by position): half A is imported as reviews (`adme review import`), half B is held out. Two
splits are built from one database: `before` (rule labels only, as `adme split`) and `after`
(`adme split --reviews`: A's labels override the rule and add A's paragraphs). Every copy of a
B text is removed from both splits (some B texts have rule-labelled copies elsewhere), so B is
unseen by every model. Each method is trained on both splits with the same seed and
hyper-parameters (`adme.train.train`) and scored on B: the baseline (`before`) is measured in
the same run.

    python benchmarks/review_retrain.py --db data/full.duckdb --work /tmp/review-retrain \\
        --methods tfidf                       # add vanilla with --model models/adme-bert-small
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from adme import store
from adme.inference import InferenceOptions, load_model, predict_texts
from adme.reviews import LABELS, import_reviews
from adme.split import make_split
from adme.train import train

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT.parent / "shared" / "gold" / "unlabelled_gold.jsonl"


def halves(gold_path: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """Agreed gold rows cut in two by a seeded hash of their normalised text: (A, B)."""
    rows = [json.loads(line) for line in gold_path.read_text().splitlines() if line.strip()]
    agreed = [r for r in rows if r.get("label") in LABELS]
    a, b = [], []
    for row in agreed:
        key = f"{seed}/{store.text_hash(row['text'])}".encode()
        (a if hashlib.sha256(key).digest()[0] % 2 == 0 else b).append(row)
    return a, b


def drop_texts(db_path: Path, splits: list[str], rows: list[dict]) -> int:
    """Remove every copy of these texts from the splits' rows; return how many rows went."""
    hashes = sorted({store.text_hash(r["text"]) for r in rows} | {r["text_hash"] for r in rows})
    con = store.connect(db_path)
    try:
        before = con.execute("SELECT count(*) FROM split_rows").fetchone()[0]
        con.execute(
            "DELETE FROM split_rows WHERE split_name IN (SELECT unnest($splits)) AND paragraph_id "
            "IN (SELECT paragraph_id FROM paragraphs WHERE text_hash IN (SELECT unnest($h)))",
            {"splits": splits, "h": hashes},
        )
        return before - con.execute("SELECT count(*) FROM split_rows").fetchone()[0]
    finally:
        con.close()


def predict(folder: Path, texts: list[str]) -> list[str]:
    """Labels of TEXTS by the model saved in FOLDER (any kind: adme.inference reads adme.json)."""
    classifier = load_model(folder, InferenceOptions(device="cpu", batch_size=32))
    return [p.label for p in predict_texts(classifier, texts)]


def score(truth: list[str], predicted: list[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class F1 over the five classes."""
    per_class = f1_score(truth, predicted, labels=list(LABELS), average=None, zero_division=0)
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro": f1_score(truth, predicted, labels=list(LABELS), average="macro", zero_division=0),
        **{label: float(f) for label, f in zip(LABELS, per_class, strict=True)},
    }


def split_size(db_path: Path, name: str) -> int:
    """Training paragraphs of one split."""
    con = store.connect(db_path, read_only=True)
    try:
        query = "SELECT count(*) FROM split_rows WHERE split_name = ? AND part = 'train'"
        return con.execute(query, [name]).fetchone()[0]
    finally:
        con.close()


def main() -> None:
    """Build both splits, train each method on each, print the table scored on half B."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="adme fetch of ../shared/spl/labels")
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (new)")
    parser.add_argument("--methods", default="tfidf", help="comma-separated adme train methods")
    parser.add_argument("--model", default=None, help="encoder for the BERT methods")
    parser.add_argument(
        "--splits", default="before,after", help="which of before,after to train on"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    args = parser.parse_args()

    if args.work.exists() and any(args.work.iterdir()):
        if not (args.work / "half_a.jsonl").is_file():  # not one of ours: never delete it
            parser.error(f"--work {args.work}: not empty and not an earlier run's folder")
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    db = args.work / "adme.duckdb"
    shutil.copyfile(args.db, db)
    a, b = halves(args.gold, args.seed)
    reviews_file = args.work / "half_a.jsonl"
    reviews_file.write_text("".join(json.dumps(r) + "\n" for r in a))
    imported = import_reviews(db, reviews_file, reviewer="gold-half-a")
    print(f"gold: {len(a)} rows as reviews (half A), {len(b)} held out (half B)")
    print(imported.line())
    make_split(db, "before", seed=args.seed)
    after = make_split(db, "after", seed=args.seed, reviews=True)
    print("\n".join(after.lines()[-1:]))
    print(f"removed {drop_texts(db, ['before', 'after'], b)} split rows holding a half-B text")

    truth = [r["label"] for r in b]
    texts = [r["text"] for r in b]
    results = []
    for method in args.methods.split(","):
        for split in args.splits.split(","):
            started = time.perf_counter()
            summary = train(
                db,
                split=split,
                model=None if method == "tfidf" else args.model,
                method=method,
                output=args.work / "models" / f"{split}-{method}",
                seeds=(args.seed,),
                epochs=args.epochs,
                lr=args.lr,
                device="cpu",
                progress=False,
            )
            scores = score(truth, predict(summary.runs[0].output, texts))
            seconds = time.perf_counter() - started
            results.append((method, split, split_size(db, split), scores, seconds))
            print(f"{method} {split}: macro-F1 {scores['macro']:.3f} ({seconds:.0f} s)", flush=True)

    print(f"\nscored on half B: {len(b)} gold paragraphs; seed {args.seed}\n")
    header = ["method", "trained on", "train paragraphs", "accuracy", "macro-F1", *LABELS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for method, split, n, s, _ in results:
        label = "rule labels" if split == "before" else "rule + half-A reviews"
        cells = [method, label, str(n), *(f"{s[k]:.3f}" for k in ("accuracy", "macro", *LABELS))]
        print("| " + " | ".join(cells) + " |")
    by_key = {(m, sp): s for m, sp, _, s, _ in results}
    for method in args.methods.split(",") if args.splits == "before,after" else ():
        old, new = by_key[(method, "before")], by_key[(method, "after")]
        print(
            f"{method}: macro-F1 {old['macro']:.3f} -> {new['macro']:.3f} "
            f"(x{new['macro'] / old['macro']:.2f}); accuracy {old['accuracy']:.3f} -> "
            f"{new['accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
