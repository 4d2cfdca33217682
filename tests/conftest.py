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
