"""Merge part files (each ingested by its own process) into one main DuckDB file.

Each part is ATTACHed read-only and copied with the INSERT ... SELECT steps of
sql/queries/merge_part.sql, in one transaction per part; merging a part twice adds nothing.
Every part is checked (exists, is a DuckDB file, holds the adme tables, is not locked) before
the first one is copied, so a bad part in the list leaves the main file as it was.
Reviews are carried over whole (an audit trail), under new review_ids after the main file's.
Splits, runs and metrics are per-experiment and are not merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from adme import store
from adme.errors import AdmeError, UsageError, first_line
from adme.wording import count

ALIAS = "adme_part"  # the name merge_part.sql reads the part under
REQUIRED_TABLES = ("documents", "paragraphs", "rejects")
_STEP = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)


@dataclass
class MergeSummary:
    """What one merge did, summed over its parts."""

    parts: int = 0
    documents_added: int = 0
    documents_skipped: int = 0
    paragraphs_added: int = 0
    predictions_added: int = 0
    rejects_added: int = 0
    reviews_added: int = 0

    def line(self) -> str:
        """One-line summary printed at the end of `adme merge`."""
        return (
            f"merged {count(self.parts, 'part')}: "
            f"documents added {self.documents_added}, "
            f"skipped {self.documents_skipped} already stored, "
            f"paragraphs added {self.paragraphs_added}, "
            f"predictions added {self.predictions_added}, rejects added {self.rejects_added}, "
            f"reviews added {self.reviews_added}"
        )


def merge_steps() -> dict[str, str]:
    """The statements of sql/queries/merge_part.sql by step name, in file order."""
    text = store.sql_text("queries/merge_part")
    pieces = _STEP.split(text)  # [preamble, name1, sql1, name2, sql2, ...]
    return {name: sql.strip() for name, sql in zip(pieces[1::2], pieces[2::2], strict=True)}


def attach_statement(path: Path) -> str:
    """`ATTACH '<path>' AS adme_part (READ_ONLY)` with the path quoted as a SQL literal.

    DuckDB's ATTACH takes no bound parameters, so the path is written into the statement; a
    single quote is doubled (the SQL escape), and a NUL byte, which no path can hold, refused.
    """
    text = str(path)
    if "\x00" in text:
        raise AdmeError(f"{text!r}: a path cannot contain a NUL byte")
    return f"ATTACH '{text.replace(chr(39), chr(39) * 2)}' AS {ALIAS} (READ_ONLY)"


@contextmanager
def attached(con: duckdb.DuckDBPyConnection, part: Path) -> Iterator[set[str]]:
    """ATTACH `part` read-only as adme_part, yield its table names, DETACH even on error."""
    try:
        con.execute(attach_statement(part))
    except duckdb.Error as exc:
        message = first_line(exc)
        if "lock" in message.lower():
            raise AdmeError(
                f"{part}: part is locked by another process (is its ingest still running?)"
            ) from exc
        if "not a valid DuckDB database" in message:
            raise AdmeError(f"{part}: not a DuckDB database file") from exc
        raise AdmeError(f"{part}: cannot attach part: {message}") from exc
    try:
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]
            ).fetchall()
        }
        yield tables
    finally:
        con.execute(f"DETACH {ALIAS}")


def _check_part(con: duckdb.DuckDBPyConnection, part: Path) -> None:
    with attached(con, part) as tables:
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise AdmeError(
                f"{part}: not an adme database (no {', '.join(missing)} table"
                f"{'s' if len(missing) > 1 else ''}; ingest parts with `adme fetch --db PART`)"
            )


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def _merge_one(
    con: duckdb.DuckDBPyConnection, part: Path, steps: dict[str, str], summary: MergeSummary
) -> None:
    with attached(con, part) as tables:
        try:
            with store.transaction(con):
                con.execute(steps["new_documents"])
                in_part = _count(con, f"SELECT count(*) FROM {ALIAS}.documents")
                added = _count(con, steps["documents"])
                paragraphs = _count(con, steps["paragraphs"])
                con.execute(steps["bare_headings"])
                if "products" in tables and "ingredients" in tables:
                    con.execute(steps["products"])
                    con.execute(steps["ingredients"])
                if "sections" in tables:
                    con.execute(steps["sections"])
                rejects = _count(con, steps["rejects"])
                predictions = _count(con, steps["predictions"]) if "predictions" in tables else 0
                if "releases" in tables:
                    con.execute(steps["releases"])
                reviews = 0
                if "reviews" in tables:
                    con.execute(steps["review_map"])
                    con.execute(steps["review_ids"])
                    reviews = _count(con, steps["reviews"])
                con.execute(steps["cleanup"])
        except duckdb.Error as exc:
            raise AdmeError(f"{part}: merge failed: {first_line(exc)}") from exc
    summary.parts += 1
    summary.documents_added += added
    summary.documents_skipped += in_part - added
    summary.paragraphs_added += paragraphs
    summary.rejects_added += rejects
    summary.predictions_added += predictions
    summary.reviews_added += reviews


def merge_parts(db_path: str | Path, parts: Sequence[str | Path]) -> MergeSummary:
    """Copy the documents (products included), paragraphs, rejects, predictions and reviews
    of each part into `db_path`.

    One transaction per part; rows already stored are skipped (documents by document_id or
    set_id + version, with their paragraphs; predictions by paragraph_id + model_id; rejects
    by source + reason; reviews by their content), so a re-run changes nothing. Every review
    row is kept, answers and undos alike, with its reviewer, source and time; it gets a new
    review_id after the main file's (an undo points at the new id of what it undoes). Every
    part is checked before any is copied: a missing part, a file that is not DuckDB or not an
    adme database, a locked part or a locked main file is a one-line AdmeError and the main
    file is left as it was.
    """
    db_path = Path(db_path)
    parts = [Path(p) for p in parts]
    if not parts:
        raise UsageError("give at least one PART.duckdb to merge")
    for part in parts:
        if not part.exists():
            raise AdmeError(f"{part}: part does not exist")
        if not part.is_file():
            raise AdmeError(f"{part}: part is not a file")
        if db_path.exists() and part.resolve() == db_path.resolve():
            raise AdmeError(f"{part}: is the main database itself (--db)")
    steps = merge_steps()
    con = store.connect(db_path)
    try:
        for part in parts:
            _check_part(con, part)
        summary = MergeSummary()
        for part in parts:
            _merge_one(con, part, steps, summary)
    finally:
        con.close()
    return summary
