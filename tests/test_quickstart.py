"""scripts/quickstart.sh, the README's first command, run as a newcomer runs it - twice.

Real parts: the script itself in bash (database, plots and models in a tmp dir through
ADME_DB / ADME_OUT / ADME_MODELS), the shipped labels, gold sample and data/new. It pre-trains
and fine-tunes a small BERT, so it takes minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from adme import reports
from tests.train_helpers import table_rows

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_quickstart(tmp: Path) -> str:
    env = {
        **os.environ,
        "ADME_DB": str(tmp / "adme.duckdb"),
        "ADME_OUT": str(tmp / "out"),
        "ADME_MODELS": str(tmp / "models"),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_quickstart_shows_each_models_gold_and_unseen_drug_scores_and_a_rerun_the_same(tmp_path):
    db = tmp_path / "adme.duckdb"
    first = run_quickstart(tmp_path)
    columns, rows = reports.run_report(db, "model_scores")
    models = tmp_path / "models"
    gold = (ROOT / "data" / "gold_sample.jsonl").read_text().splitlines()
    gold_lines = [json.loads(line) for line in gold if line.strip()]
    (test_size,) = table_rows(
        db,
        "SELECT count(*) FROM split_rows WHERE split_name = 'drug' AND part = 'test'",
    )[0]
    # three models, each scored on the gold sample and on the drug split's test part
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (target, str(models / f"adme-{name}"), method)
        for name, method in (("tfidf", "tfidf"), ("bert", "vanilla"), ("ensemble", "ensemble"))
        for target in ("gold:gold_sample.jsonl", "split:drug")
    }
    size = {r[0]: r[3] for r in rows}
    assert size["gold:gold_sample.jsonl"] == sum(g["label"] is not None for g in gold_lines)
    assert size["split:drug"] == test_size
    # the printed summary ends with that table, and data/new was labelled with TF-IDF
    assert "model_scores (6 rows)" in first
    assert first.index("model_scores") > first.index("== 6. label")
    labelled = table_rows(
        db,
        "SELECT DISTINCT p.model_id FROM predictions p JOIN paragraphs g USING (paragraph_id) "
        "JOIN documents d USING (document_id) WHERE d.source LIKE '%data/new%'",
    )
    assert len(labelled) == 1 and labelled[0][0].startswith("adme-tfidf@"), labelled
    for name in ("per-class-f1.png", "confusion.png", "review_queue.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0

    second = run_quickstart(tmp_path)
    assert "kept: already stored with these parameters" in second
    assert reports.run_report(db, "model_scores") == (columns, rows)
