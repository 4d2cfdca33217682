"""Human reviews of paragraph labels: an append-only `reviews` table, import, export, record.

A reviewer's answer is one row of `reviews` and is never updated or deleted: a correction is a
newer row, an undo is a row that retracts an earlier one. The view `current_reviews` holds the
label in force for each text (its newest answer not retracted); a review labels the TEXT
(text_hash), so it holds for every stored copy of that text (generics repeat labels word for
word) and for copies fetched later.

Files (`adme review import`) are CSV or JSONL: the `review_queue` / `disagreements` report
exports with a `label` column filled in, a file shaped like the gold file
(`text_hash`, `text`, `label`), or an `adme review export`. Each row is matched by
`paragraph_id`, else `text_hash`, else its normalised `text`. A row the database cannot take
(unknown label, no matching paragraph, a malformed line) is refused with one line naming its
line number; the good rows are stored in one transaction all the same. Rows whose label is
left blank are skipped: the reviewer did not answer them.

Two writers at once: DuckDB lets one process write a file at a time, so a writer waits (a
bounded time) for the other to finish; both rows are kept and the one recorded last wins.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from adme import store
from adme.errors import AdmeError, UsageError
from adme.rules import LABELS
from adme.wording import count

FORMATS = ("csv", "jsonl")
WRITE_WAIT_S = 30.0  # how long a writer waits for another process to release the database
_MATCH_KEYS = ("paragraph_id", "text_hash", "text")
_EXTRA = "\0extra"  # DictReader key of fields beyond the header


class UnknownParagraph(AdmeError):
    """A review names a paragraph the database does not hold."""


class ReviewConflict(AdmeError):
    """An undo the trail cannot take: no such review, already undone, or itself an undo."""


@dataclass
class ImportSummary:
    """What `import_reviews` stored, skipped and refused."""

    file: str
    stored: int = 0  # review rows written
    copies: int = 0  # stored paragraphs those reviews cover (copies of one text included)
    skipped: int = 0  # rows with the label left blank
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def refusal_lines(self) -> list[str]:
        """One line per refused row, naming the file and line number."""
        return [f"{self.file} line {line}: {reason}" for line, reason in self.refused]

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = (
            f"stored {count(self.stored, 'review')} covering {count(self.copies, 'paragraph')} "
            f"from {self.file}; skipped {count(self.skipped, 'row')} without a label; "
            f"refused {len(self.refused)}"
        )
        return text


@dataclass(frozen=True)
class ReviewRow:
    """One parsed input row: where it was, its label and the keys that may find its paragraph."""

    line: int
    label: str
    paragraph_id: str | None
    text_hash: str | None
    text: str | None
    reviewer: str | None
    note: str | None


# --- writing ----------------------------------------------------------------------------------


def connect_for_writing(
    db_path: str | Path, wait_s: float = WRITE_WAIT_S
) -> duckdb.DuckDBPyConnection:
    """Open an existing database read-write, waiting up to WAIT_S while another process holds it.

    Never creates a database: a review of a database that does not exist is a mistyped path.
    """
    if not Path(db_path).is_file():
        raise AdmeError(f"{db_path}: database does not exist (run `adme fetch` first)")
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return store.connect(db_path)
        except AdmeError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def check_label(label: str | None) -> str:
    """The label in canonical form (stripped, lower case); anything but the five is an error."""
    canonical = (label or "").strip().lower()
    if canonical not in LABELS:
        raise AdmeError(f"label {label!r} is not one of {', '.join(LABELS)}")
    return canonical


def record_review(
    con: duckdb.DuckDBPyConnection,
    paragraph_id: str,
    label: str,
    reviewer: str,
    *,
    source: str,
    note: str | None = None,
) -> int:
    """Append one answer for PARAGRAPH_ID's text; return its review_id.

    An unknown paragraph or a label outside the five is an AdmeError and writes nothing.
    """
    label = check_label(label)
    if not reviewer.strip():
        raise AdmeError("a review needs a reviewer name")
    inserted = con.execute(
        store.sql_text("queries/review_record"),
        {
            "paragraph_id": paragraph_id,
            "label": label,
            "reviewer": reviewer,
            "note": note,
            "source": source,
        },
    ).fetchone()
    if inserted is None:
        raise UnknownParagraph(f"paragraph {paragraph_id!r} is not in the database")
    return inserted[0]


def retract_review(
    con: duckdb.DuckDBPyConnection, review_id: int, reviewer: str, *, source: str
) -> int:
    """Append a row undoing answer REVIEW_ID (its text falls back to the answer before it).

    Returns the new row's review_id. Retracting twice, or retracting a retraction, is an error.
    """
    row = con.execute(store.sql_text("queries/review_state"), {"review_id": review_id}).fetchone()
    if row is None:
        raise ReviewConflict(f"review {review_id} does not exist")
    if row[2] is None:
        raise ReviewConflict(f"review {review_id} is itself an undo and cannot be undone")
    if row[3]:
        raise ReviewConflict(f"review {review_id} is already undone")
    return con.execute(
        store.sql_text("queries/review_retract"),
        {"review_id": review_id, "reviewer": reviewer, "source": source},
    ).fetchone()[0]


# --- reading files ----------------------------------------------------------------------------


def file_format(path: Path, text: str) -> str:
    """csv or jsonl, by the file's suffix, else by its first character (`{` is JSONL)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _blank(value: Any) -> str | None:
    """Text stripped, or None for a missing or empty value."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_record(line: int, record: dict[str, Any]) -> ReviewRow | None:
    """One input record as a ReviewRow; None when its label is left blank (not answered).

    A record with no way to find its paragraph, or a label outside the five, is an AdmeError.
    """
    if "label" not in record:
        raise AdmeError("no `label` field")
    label = _blank(record.get("label"))
    if label is None:
        return None
    label = check_label(label)
    keys = {k: _blank(record.get(k)) for k in _MATCH_KEYS}
    if not any(keys.values()):
        raise AdmeError("no paragraph_id, text_hash or text to match a paragraph by")
    return ReviewRow(
        line=line,
        label=label,
        **keys,
        reviewer=_blank(record.get("reviewer")),
        note=_blank(record.get("note")),
    )


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or fault) for each CSV row after the header."""
    reader = csv.DictReader(io.StringIO(text), restkey=_EXTRA)
    if reader.fieldnames is None:
        return
    if "label" not in reader.fieldnames:
        raise AdmeError(f"no `label` column (columns: {', '.join(reader.fieldnames)})")
    width = len(reader.fieldnames)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"malformed CSV ({exc})"
            continue
        line = reader.line_num
        if _EXTRA in record:
            yield line, f"malformed CSV: {width + len(record[_EXTRA])} fields, header has {width}"
        elif None in record.values() and any(v for v in record.values()):
            yield line, f"malformed CSV: fewer fields than the header's {width}"
        elif any(v for v in record.values()):
            yield line, record


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or fault) for each non-blank JSONL line."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(record, dict):
            yield number, f"not a JSON object but {type(record).__name__}"
        else:
            yield number, record


def read_review_file(path: str | Path) -> tuple[list[ReviewRow], int, list[tuple[int, str]]]:
    """Parse a CSV or JSONL review file into (rows, rows skipped as blank, refused lines).

    A missing, unreadable or empty file, or a CSV without a `label` column, is an AdmeError:
    there is nothing to store.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AdmeError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdmeError(f"{path}: cannot read ({exc})") from None
    if not text.strip():
        raise AdmeError(f"{path}: empty file, no reviews in it")
    fmt = file_format(path, text)
    try:
        records = list(_csv_records(text) if fmt == "csv" else _jsonl_records(text))
    except AdmeError as exc:
        raise AdmeError(f"{path}: {exc}") from None
    if not records:
        raise AdmeError(f"{path}: no review rows in it")
    rows, skipped, refused = [], 0, []
    for line, record in records:
        if isinstance(record, str):
            refused.append((line, record))
            continue
        try:
            row = parse_record(line, record)
        except AdmeError as exc:
            refused.append((line, str(exc)))
            continue
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    return rows, skipped, refused


# --- import and export ------------------------------------------------------------------------


def _match(
    con: duckdb.DuckDBPyConnection, rows: Sequence[ReviewRow]
) -> dict[int, tuple[str, str, int]]:
    """line -> (paragraph_id, text_hash, copies) for every row that names a stored paragraph."""
    keys = pa.table(
        {
            "line": pa.array([r.line for r in rows], pa.int64()),
            "paragraph_id": pa.array([r.paragraph_id for r in rows], pa.string()),
            "text_hash": pa.array([r.text_hash for r in rows], pa.string()),
            "normalised_hash": pa.array(
                [store.text_hash(r.text) if r.text else None for r in rows], pa.string()
            ),
        }
    )
    con.register("review_keys", keys)
    try:
        found = con.execute(store.sql_text("queries/review_match")).fetchall()
    finally:
        con.unregister("review_keys")
    return {line: (pid, th, n) for line, pid, th, n in found if pid is not None}


def _unmatched_reason(row: ReviewRow) -> str:
    named = [f"{k} {getattr(row, k)[:60]!r}" for k in _MATCH_KEYS if getattr(row, k)]
    return "no stored paragraph matches " + " or ".join(named)


def _review_table(rows: Sequence[tuple]) -> pa.Table:
    """Rows to insert, in file order (review ids follow it, so a later line is newer)."""
    names = ("ordinal", "paragraph_id", "text_hash", "label", "reviewer", "note", "source")
    columns = list(zip(*[(i, *row) for i, row in enumerate(rows)], strict=True))
    types = (pa.int64(), *[pa.string()] * 6)
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


def import_reviews(
    db_path: str | Path,
    file: str | Path,
    reviewer: str | None = None,
    *,
    wait_s: float = WRITE_WAIT_S,
) -> ImportSummary:
    """Store the answered rows of a CSV/JSONL review file as `reviews` rows; report the rest.

    Each row's own `reviewer` column wins, then REVIEWER, then the login name. Good rows are
    written in one transaction even when others are refused (see the summary's `refused`).
    """
    file = Path(file)
    rows, skipped, refused = read_review_file(file)
    summary = ImportSummary(file=str(file), skipped=skipped, refused=refused)
    default_reviewer = reviewer or getpass.getuser()
    con = connect_for_writing(db_path, wait_s)
    try:
        matched = _match(con, rows) if rows else {}
        inserts = []
        covered: set[str] = set()
        for row in rows:
            if row.line not in matched:
                refused.append((row.line, _unmatched_reason(row)))
                continue
            paragraph_id, text_hash, copies = matched[row.line]
            inserts.append(
                (
                    paragraph_id,
                    text_hash,
                    row.label,
                    row.reviewer or default_reviewer,
                    row.note,
                    f"import {file.name}:{row.line}",
                )
            )
            if text_hash not in covered:
                covered.add(text_hash)
                summary.copies += copies
        if inserts:
            with store.transaction(con):
                con.register("incoming_reviews", _review_table(inserts))
                try:
                    con.execute(store.sql_text("queries/review_import"))
                finally:
                    con.unregister("incoming_reviews")
        summary.stored = len(inserts)
    finally:
        con.close()
    refused.sort()
    return summary


def export_reviews(
    db_path: str | Path,
    output: str | Path | None = None,
    fmt: str | None = None,
    *,
    all_rows: bool = False,
) -> str:
    """The reviews in force (or, with ALL_ROWS, every row ever recorded) as CSV or JSONL.

    Returns the text, or writes it to OUTPUT and returns a one-line summary. The format is
    FMT, else OUTPUT's suffix (.jsonl), else CSV. The file imports back with `import_reviews`.
    """
    if fmt is None:
        fmt = "jsonl" if output and Path(output).suffix.lower() in (".jsonl", ".json") else "csv"
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    con = store.connect(db_path, read_only=True)
    try:
        query = "queries/reviews_all" if all_rows else "queries/reviews_current"
        try:
            cursor = con.execute(store.sql_text(query))
        except duckdb.CatalogException as exc:
            raise AdmeError(f"{db_path}: no reviews table yet (import or record a review)") from exc
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        text = buffer.getvalue()
    else:
        text = "".join(
            json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n"
            for row in rows
        )
    if output is None:
        return text
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    what = count(len(rows), "review row") if all_rows else f"{count(len(rows), 'review')} in force"
    return f"wrote {what} to {path}"


@dataclass(frozen=True)
class ReviewedTexts:
    """Every reviewed text with the label in force: what `adme evaluate --on reviews` scores."""

    texts: list[str]
    labels: list[str]
    paragraph_ids: list[list[str]]  # stored paragraphs holding exactly that text
    reviewers: int


def reviewed_texts(db_path: str | Path) -> ReviewedTexts:
    """The texts people reviewed, one per text, with the label in force (newest, not undone).

    No database, or a database without a review in force, is an AdmeError: there is nothing
    to score on.
    """
    if not Path(db_path).is_file():
        raise AdmeError(f"{db_path}: database does not exist")
    con = store.connect(db_path, read_only=True)
    try:
        rows = con.execute(store.sql_text("queries/reviews_eval")).fetchall()
    finally:
        con.close()
    if not rows:
        raise AdmeError(
            f"{db_path}: no reviewed paragraphs (adme review import, or the review page)"
        )
    return ReviewedTexts(
        texts=[text for _, _, _, text, _ in rows],
        labels=[label for _, label, _, _, _ in rows],
        paragraph_ids=[list(ids or []) for *_, ids in rows],
        reviewers=len({reviewer for _, _, reviewer, _, _ in rows}),
    )
