"""Real parts for the `adme label` and `adme serve` tests: tiny classifier folders, table counts,
a lock holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from adme import store
from adme.rules import FIVE_CLASSES


def build_classifier(
    base_dir: Path, folder: Path, labels: tuple[str, ...] | None = FIVE_CLASSES, seed: int = 0
) -> Path:
    """Save a sequence classifier built on the tiny BERT in `base_dir` (head seeded), return it.

    `labels=None` saves three classes with transformers' default names LABEL_0..LABEL_2.
    """
    torch.manual_seed(seed)
    if labels is None:
        model = AutoModelForSequenceClassification.from_pretrained(base_dir, num_labels=3)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(
            base_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(folder)
    return folder


def table_counts(db_path: Path) -> dict[str, int]:
    """Rows in documents, paragraphs and predictions: what a failed run must leave unchanged."""
    with store.connect(db_path, read_only=True) as con:
        return {
            name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ("documents", "paragraphs", "predictions")
        }


def lock_database(db_path: Path) -> subprocess.Popen:
    """Start another process that opens `db_path` read-write and holds it until killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(db_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder
