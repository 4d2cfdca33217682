"""Shared fixtures. Each fixture builds real parts (DuckDB files, model folders) in temp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SPL = ROOT / "data" / "spl"
NEW_SPL = ROOT / "data" / "new"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach the Hugging Face hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny untrained BERT (hidden 32, 2 layers, WordPiece vocab 800) saved as an HF folder.

    Loads with plain AutoTokenizer / AutoModelForSequenceClassification.from_pretrained.
    """
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def sample_db_template(tmp_path_factory) -> Path:
    """data/spl/ ingested once with fetch_from_path; copy it (use `sample_db`) before writing."""
    from adme.fetch import fetch_from_path

    folder = tmp_path_factory.mktemp("sample-db")
    db_path = folder / "adme.duckdb"
    summary = fetch_from_path(db_path, SAMPLE_SPL, folder / "cache", progress=False)
    assert summary.fetched > 0 and not summary.rejects, summary.rejects
    return db_path


@pytest.fixture
def sample_db(sample_db_template, tmp_path) -> Path:
    """A private copy of the sample database (data/spl/ ingested), safe to write to."""
    import shutil

    db_path = tmp_path / "adme.duckdb"
    shutil.copyfile(sample_db_template, db_path)
    return db_path
