"""Every benchmark script still runs, at toy size.

The scripts are not tests, but they call the library directly; a signature change once broke
benchmarks/train_step.py unnoticed. Running each in a subprocess on the shipped sample keeps
them honest without timing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE_SPL

pytestmark = pytest.mark.slow


def run_script(*args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_train_step_benchmark_prints_its_ratio(sample_db):
    out = run_script(
        "benchmarks/train_step.py",
        *("--db", str(sample_db), "--limit", "32", "--hidden", "32", "--layers", "1"),
        *("--repeats", "1", "--max-length", "32"),
    )
    assert "ratio adme / Trainer:" in out


def test_label_benchmark_prints_its_ratio_and_agreement(tmp_path):
    out = run_script(
        "benchmarks/label.py",
        *("--spl", str(ROOT / "data" / "new"), "--hidden", "32", "--layers", "1"),
        *("--vocab", "500", "--max-length", "32", "--rounds", "1", "--threads", "1"),
    )
    lines = {line.split(" (")[0]: line for line in out.splitlines() if line.startswith("adme ")}
    assert set(lines) == {"adme auto", "adme full"}  # the default precisions, each timed
    for line in lines.values():
        assert "x wall" in line and "x CPU time" in line and "same label as full precision" in line
    assert "same label as full precision 1.0000" in lines["adme full"]
    assert "full-precision labels:" in out and "load average" in out


def test_extract_benchmark_prints_its_ratio(tmp_path):
    out = run_script(
        "benchmarks/extract.py",
        str(ROOT / "data" / "new"),
        *("--copies", "1", "--zip-mb", "1", "--threads", "1", "--parse-workers", "2"),
    )
    assert "ratio to bare parse" in out
    assert "peak RSS" in out


def test_coverage_benchmark_prints_recall_over_the_sample():
    out = run_script(
        "benchmarks/coverage.py", str(SAMPLE_SPL), str(ROOT / "tests/fixtures/openfda_sample.jsonl")
    )
    assert "recall" in out.lower()


def test_results_table_trains_and_prints_every_method_and_split(
    sample_db, tiny_model_dir, tmp_path
):
    out = run_script(
        "benchmarks/results.py",
        *("--db", str(sample_db), "--model", str(tiny_model_dir), "--methods", "tfidf,two-stage"),
        *("--seeds", "7", "--epochs", "1", "--stage1-epochs", "1", "--max-length", "32"),
        *("--output", str(tmp_path / "models")),
    )
    for row in ("results-natural | tfidf", "results-ratio0.1 | two-stage"):
        assert row in out


def test_release_benchmark_prints_every_number_and_the_interruption_check():
    out = run_script(
        "benchmarks/release.py",
        *("--labels", str(ROOT / "data" / "spl"), "--count", "40", "--size-mb", "4"),
        *("--update-count", "3", "--report-labels", "200", "--interrupt"),
    )
    for number in ("ratio to bare parse", "peak RSS", "per 1,000 labels", "slowest report"):
        assert number in out
    assert "every table equal to the uninterrupted run's: True" in out
    assert "fetch --updates: " in out and "applied dm_spl_daily_update_08052026.zip" in out


def test_review_retrain_scores_before_and_after_reviews(sample_db, tmp_path):
    """Half of a gold-shaped file as reviews, TF-IDF retrained, scored on the other half."""
    import duckdb

    con = duckdb.connect(str(sample_db), read_only=True)
    texts = con.execute(
        "SELECT DISTINCT text_hash, text FROM paragraphs WHERE rule_label IS NULL ORDER BY 1"
    ).fetchall()
    con.close()
    labels = ("absorption", "distribution", "metabolism", "excretion", "other")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"text_hash": h, "label": labels[i % 5], "text": t}) + "\n"
            for i, (h, t) in enumerate(texts)
        )
    )
    out = run_script(
        "benchmarks/review_retrain.py",
        *("--db", str(sample_db), "--gold", str(gold), "--work", str(tmp_path / "work")),
    )
    assert "| tfidf | rule labels |" in out and "| tfidf | rule + half-A reviews |" in out
    assert "tfidf: macro-F1" in out
