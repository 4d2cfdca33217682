"""adme merge: part files ingested separately, merged into one main file with real DuckDB."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from adme import reviews, store
from adme.cli import app
from adme.errors import AdmeError
from adme.fetch import fetch_from_path
from adme.merge import attach_statement, merge_parts
from tests.conftest import SAMPLE_SPL

# Every column but fetched_at (time of ingest) and source (path of the part's input folder).
DOC_COLUMNS = (
    "document_id, set_id, version, effective_date, title, doc_type, sha256, pk_found, "
    "products_found"
)
SHARED = "stored in both parts"


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every merged table of `db`, for before/after comparisons."""
    return {
        "documents": _rows(db, f"SELECT {DOC_COLUMNS} FROM documents"),
        "paragraphs": _rows(db, "SELECT * FROM paragraphs"),
        "rejects": _rows(db, "SELECT source, reason FROM rejects"),
        "predictions": _rows(db, "SELECT paragraph_id, model_id, label FROM predictions"),
        "products": _rows(db, "SELECT * FROM products"),
        "ingredients": _rows(db, "SELECT * FROM ingredients"),
    }


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, Path]:
    """Two part files from disjoint halves of data/spl/ plus one label in both; and the whole.

    Part 1 also holds a prediction and a reject; both parts hold the same reject.
    """
    root = tmp_path_factory.mktemp("merge")
    files = sorted(SAMPLE_SPL.glob("*.xml"))
    half = len(files) // 2
    halves = {"part1": files[:half] + [files[-1]], "part2": files[half:]}
    out = {}
    for name, chosen in halves.items():
        folder = root / f"{name}-xml"
        folder.mkdir()
        for file in chosen:
            shutil.copyfile(file, folder / file.name)
        out[name] = root / f"{name}.duckdb"
        summary = fetch_from_path(out[name], folder, root / "cache", progress=False)
        assert summary.fetched == len(chosen) and not summary.rejects
    out["whole"] = root / "whole.duckdb"
    fetch_from_path(out["whole"], SAMPLE_SPL, root / "cache", progress=False)

    con = store.connect(out["part1"])
    paragraph_id = con.execute("SELECT min(paragraph_id) FROM paragraphs").fetchone()[0]
    con.execute(
        "INSERT INTO predictions (paragraph_id, model_id, label, confidence, probs) "
        "VALUES (?, 'tiny@abc', 'absorption', 0.9, MAP {'absorption': 0.9, 'other': 0.1})",
        [paragraph_id],
    )
    store.record_rejects(con, [("bad.xml", "not SPL"), ("bad.xml", SHARED)])
    con.close()
    con = store.connect(out["part2"])
    store.record_rejects(con, [("bad.xml", SHARED)])
    con.close()
    return out


@pytest.fixture
def main_db(tmp_path) -> Path:
    return tmp_path / "main.duckdb"


def test_merge_equals_single_ingest(parts, main_db):
    summary = merge_parts(main_db, [parts["part1"], parts["part2"]])
    whole = _snapshot(parts["whole"])
    merged = _snapshot(main_db)
    assert merged["documents"] == whole["documents"]
    assert merged["paragraphs"] == whole["paragraphs"]
    assert merged["products"] == whole["products"] and merged["products"]
    assert merged["ingredients"] == whole["ingredients"]
    assert merged["rejects"] == [("bad.xml", "not SPL"), ("bad.xml", SHARED)]
    assert len(merged["predictions"]) == 1
    n_docs = len(whole["documents"])
    assert (summary.parts, summary.documents_added, summary.documents_skipped) == (2, n_docs, 1)
    assert summary.paragraphs_added == len(whole["paragraphs"])
    assert (summary.predictions_added, summary.rejects_added) == (1, 2)
    # The source column keeps each part's own input path; the file names match the whole's.
    names = _rows(main_db, "SELECT document_id, regexp_extract(source, '[^/]+$') FROM documents")
    assert names == _rows(
        parts["whole"], "SELECT document_id, regexp_extract(source, '[^/]+$') FROM documents"
    )


def test_merging_twice_changes_nothing(parts, main_db):
    merge_parts(main_db, [parts["part1"], parts["part2"]])
    before = _snapshot(main_db)
    again = merge_parts(main_db, [parts["part2"], parts["part1"]])
    assert _snapshot(main_db) == before
    assert again.documents_added == again.paragraphs_added == 0
    assert again.predictions_added == again.rejects_added == 0
    assert again.documents_skipped == len(before["documents"]) + 1


def test_cli_merge_prints_one_summary_line(parts, main_db):
    result = CliRunner().invoke(app, ["merge", str(parts["part1"]), "--db", str(main_db)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("merged 1 part: documents added ")
    assert "predictions added 1" in lines[0]


def test_part_path_with_a_quote(parts, tmp_path, main_db):
    odd = tmp_path / "it's a part.duckdb"
    shutil.copyfile(parts["part2"], odd)
    assert "/it''s a part.duckdb' AS adme_part" in attach_statement(odd)
    summary = merge_parts(main_db, [odd])
    assert summary.documents_added == len(_rows(parts["part2"], "SELECT 1 FROM documents"))


def _bad_parts(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("hello, not a database\n" * 200)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE documents (x INTEGER)")
    con.close()
    return {
        "missing": (tmp_path / "nope.duckdb", "part does not exist"),
        "folder": (tmp_path, "part is not a file"),
        "not duckdb": (not_duckdb, "not a DuckDB database file"),
        "no adme tables": (other, "not an adme database (no paragraphs, rejects tables"),
    }


def test_bad_parts_are_one_line_errors_and_leave_main_unchanged(parts, main_db, tmp_path):
    merge_parts(main_db, [parts["part2"]])
    before = _snapshot(main_db)
    for name, (bad, message) in _bad_parts(tmp_path).items():
        # The good part listed first is not merged either: every part is checked first.
        with pytest.raises(AdmeError, match=re.escape(message)) as info:
            merge_parts(main_db, [parts["part1"], bad])
        assert "\n" not in str(info.value), name
        assert _snapshot(main_db) == before, name
    with pytest.raises(AdmeError, match="main database itself"):
        merge_parts(main_db, [main_db])
    # No ATTACH was left behind: the same part merges fine afterwards.
    assert merge_parts(main_db, [parts["part1"]]).documents_added > 0


def test_cli_bad_part_prints_error_line(tmp_path, main_db):
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "nope.duckdb"), "--db", str(main_db)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path / 'nope.duckdb'}: part does not exist"
    ]


def test_locked_main_file(parts, main_db):
    store.connect(main_db).close()
    holder = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(main_db)!r})
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(AdmeError, match="locked by another process"):
            merge_parts(main_db, [parts["part1"]])
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_part_without_predictions_table(parts, tmp_path, main_db):
    """A part from an older adme (no predictions table) still merges its documents."""
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(attach_statement(parts["part2"]))
    con.execute(
        "CREATE TABLE documents AS SELECT * EXCLUDE (products_found) FROM adme_part.documents"
    )
    con.execute(
        "CREATE TABLE paragraphs AS SELECT * EXCLUDE (bare_heading) FROM adme_part.paragraphs"
    )
    con.execute("CREATE TABLE rejects AS SELECT * FROM adme_part.rejects")
    con.execute("DETACH adme_part")
    con.close()
    summary = merge_parts(main_db, [old])
    assert summary.documents_added > 0 and summary.predictions_added == 0
    # Nor products: its documents wait for `adme fetch --reparse` / a rerun to read them.
    unread = _rows(main_db, "SELECT count(*) FROM documents WHERE products_found IS NULL")
    assert unread == [(summary.documents_added,)]
    assert _rows(main_db, "SELECT count(*) FROM products") == [(0,)]
    # Nor paragraphs.bare_heading: the merge works it out from the text.
    assert _rows(main_db, "SELECT count(*) FROM paragraphs WHERE bare_heading IS NULL") == [(0,)]
    assert _rows(main_db, "SELECT bare_heading, count(*) FROM paragraphs GROUP BY 1") == _rows(
        parts["part2"], "SELECT bare_heading, count(*) FROM paragraphs GROUP BY 1"
    )


def _long_texts(db: Path) -> list[tuple[str, str]]:
    """(paragraph_id, text_hash) of DB's paragraphs, longest text first: texts no other
    paragraph of the sample repeats."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT paragraph_id, text_hash FROM paragraphs ORDER BY length(text) DESC, 1"
        ).fetchall()
    finally:
        con.close()


def _add_reviews(db: Path, answers: list[tuple[int, str, str]], undo: int | None = None) -> None:
    """Reviews of DB's paragraphs (by position in _long_texts) as the review page writes them,
    one transaction each, then optionally an undo of the UNDO-th answer."""
    ids = [pid for pid, _ in _long_texts(db)]
    con = store.connect(db)
    try:
        recorded = [
            reviews.record_review(con, ids[i], label, who, source="page", note=f"note {k}")
            for k, (i, label, who) in enumerate(answers)
        ]
        if undo is not None:
            reviews.retract_review(con, recorded[undo], "ana", source="page")
    finally:
        con.close()


def _trail(db: Path) -> list[tuple]:
    """Every review row by content (ids differ between files), an undo with what it undoes."""
    return _rows(
        db,
        "SELECT r.paragraph_id, r.text_hash, r.label, r.reviewer, r.note, r.source, r.created_at, "
        "u.paragraph_id, u.label, u.reviewer, u.created_at "
        "FROM reviews r LEFT JOIN reviews u ON u.review_id = r.retracts",
    )


def test_merge_carries_every_review_and_its_trail(parts, tmp_path, main_db):
    """Reviews given on part files (ids 1, 2, ... in each, colliding with the main file's) all
    arrive: answers, corrections and undos, with reviewer, note, source and time; an undo
    still undoes the same answer; the newest answer per text is in force; a second merge adds
    nothing and the main file's sequence moved past the merged ids."""
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    shutil.copyfile(parts["part1"], one)
    shutil.copyfile(parts["part2"], two)
    merge_parts(main_db, [two])
    _add_reviews(main_db, [(0, "other", "main-rev")])  # the main file's own review_id 1
    # One: an answer, its correction, an answer then undone. Two: one answer.
    _add_reviews(
        one, [(0, "absorption", "ana"), (0, "metabolism", "bo"), (1, "excretion", "ana")], undo=2
    )
    _add_reviews(two, [(3, "distribution", "cy")])
    texts = {
        "one-0": _long_texts(one)[0][1],
        "one-1": _long_texts(one)[1][1],
        "two-3": _long_texts(two)[3][1],
        "main-0": _long_texts(main_db)[0][1],
    }
    assert len(set(texts.values())) == 4  # four different texts: each has its own verdict
    expected = sorted(_trail(main_db) + _trail(one) + _trail(two), key=repr)
    assert len(expected) == 6

    summary = merge_parts(main_db, [one, two])
    assert summary.reviews_added == 5
    assert "reviews added 5" in summary.line()
    assert _trail(main_db) == expected  # every row, and every undo undoes the same answer
    ids = [r[0] for r in _rows(main_db, "SELECT review_id FROM reviews")]
    assert len(set(ids)) == 6
    in_force = dict(_rows(main_db, "SELECT text_hash, label FROM current_reviews"))
    assert in_force == {
        texts["main-0"]: "other",
        texts["one-0"]: "metabolism",
        texts["two-3"]: "distribution",
    }

    again = merge_parts(main_db, [one, two])
    assert again.reviews_added == 0
    assert _trail(main_db) == expected
    # The page keeps recording after a merge: the sequence moved past the merged ids.
    _add_reviews(main_db, [(5, "other", "main-rev")])
    assert len(_rows(main_db, "SELECT review_id FROM reviews")) == 7
