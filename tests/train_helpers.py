"""Test helpers for the trainer tests."""

from __future__ import annotations

from pathlib import Path

from adme import store


def table_rows(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a read-only query, for assertions about what a run stored."""
    con = store.connect(db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
