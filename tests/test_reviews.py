"""Reviews as data: the append-only reviews table, `adme review import` / `export`, bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import reports, reviews, store
from adme.cli import app
from adme.errors import AdmeError
from tests import reporting_db

ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXT = "Metformin is not metabolised and binds no protein."


def add_generic_copy(db_path: Path) -> None:
    """A second label holding a word-for-word copy of a metformin paragraph (as generics do)."""
    reporting_db.add_unlabelled_document(
        db_path, "generic", "METFORMIN (a generic)", (SHARED_TEXT,)
    )


@pytest.fixture(scope="module")
def db_template(tmp_path_factory) -> Path:
    """The report test database (with model predictions) plus one generic copy of a text."""
    path = reporting_db.build(tmp_path_factory.mktemp("reviews") / "adme.duckdb", runs=False)
    add_generic_copy(path)
    return path


@pytest.fixture
def db(db_template, tmp_path) -> Path:
    """A private copy of the template, safe to write to."""
    path = tmp_path / "adme.duckdb"
    shutil.copyfile(db_template, path)
    return path


def paragraph_id_of(db_path: Path, text: str) -> str:
    """The first paragraph id holding TEXT."""
    con = store.connect(db_path, read_only=True)
    try:
        return con.execute(
            "SELECT min(paragraph_id) FROM paragraphs WHERE text = ?", [text]
        ).fetchone()[0]
    finally:
        con.close()


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one read-only query."""
    con = store.connect(db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def current_labels(db_path: Path) -> dict[str, str]:
    """paragraph_id -> reviewed label in force, over every copy."""
    return dict(query(db_path, "SELECT paragraph_id, review_label FROM reviewed_paragraphs"))


def write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    """A JSONL file; dict lines are dumped, string lines written as they are (malformed ones)."""
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


# --- import --------------------------------------------------------------------------------


def test_gold_shaped_file_matches_by_normalised_text_and_reviews_every_copy(db, tmp_path):
    """A stale text_hash falls back to the text (case and spacing ignored); copies all count."""
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {
                "text_hash": "0" * 40,  # made with another extractor: does not match
                "label": "Excretion",
                "annotator_a": "excretion",
                "text": "  metformin is NOT metabolised\nand binds no protein. ",
            },
            {"text_hash": None, "label": None, "text": "Rapidly absorbed."},  # not agreed
        ],
    )
    summary = reviews.import_reviews(db, gold, reviewer="gold")
    assert (summary.stored, summary.copies, summary.skipped, summary.refused) == (1, 2, 1, [])
    copies = [
        pid
        for (pid,) in query(db, "SELECT paragraph_id FROM paragraphs WHERE text = ?", [SHARED_TEXT])
    ]
    assert len(copies) == 2
    assert current_labels(db) == dict.fromkeys(copies, "excretion")
    (row,) = query(db, "SELECT reviewer, source, label FROM reviews")
    assert row == ("gold", "import gold.jsonl:1", "excretion")


def test_filled_in_review_queue_export_imports_through_the_cli(db, tmp_path):
    """The review_queue report's CSV with a label column added: answered rows stored, blanks
    skipped, exit 0; rows matched by paragraph_id alone (the export holds only a preview)."""
    exported = tmp_path / "queue.csv"
    reports.export_report(db, "review_queue", {"threshold": "1"}, "csv", exported)
    with exported.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 3
    answers = ["metabolism", "", "OTHER"] + [""] * (len(rows) - 3)
    filled = tmp_path / "filled.csv"
    with filled.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [*rows[0].keys(), "label", "note"])
        writer.writeheader()
        for row, answer in zip(rows, answers, strict=True):
            writer.writerow({**row, "label": answer, "note": "checked" if answer else ""})
    result = CliRunner().invoke(
        app, ["review", "import", str(filled), "--db", str(db), "--reviewer", "ana"]
    )
    assert result.exit_code == 0, result.output
    assert f"skipped {len(rows) - 2} rows without a label; refused 0" in result.output
    stored = query(db, "SELECT paragraph_id, label, reviewer, note FROM reviews ORDER BY 1")
    expected = sorted(
        [
            (rows[0]["paragraph_id"], "metabolism", "ana", "checked"),
            (rows[2]["paragraph_id"], "other", "ana", "checked"),
        ]
    )
    assert stored == expected


def test_bad_rows_each_get_one_line_and_good_rows_are_still_stored(db, tmp_path):
    """Nonexistent paragraph, a label outside the five, malformed JSON, no key, not an object:
    one stderr line each naming its line number, exit 1; the good rows and earlier reviews stay."""
    good_id = paragraph_id_of(db, "Rapidly absorbed.")
    earlier = reviews.import_reviews(
        db, write_jsonl(tmp_path / "earlier.jsonl", [{"paragraph_id": good_id, "label": "other"}])
    )
    assert earlier.stored == 1
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"paragraph_id": "no-such-doc/0", "label": "absorption"},  # 1
            {"paragraph_id": good_id, "label": "pharmacodynamics"},  # 2
            '{"paragraph_id": "x", "label": ',  # 3: truncated line
            {"label": "metabolism"},  # 4: nothing to match by
            "[1, 2]",  # 5: not an object
            "",  # 6: blank line, ignored
            {"paragraph_id": good_id, "label": "absorption", "reviewer": "bo"},  # 7: good
        ],
    )
    result = CliRunner().invoke(app, ["review", "import", str(bad), "--db", str(db)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line]
    assert [line.split(":")[0] for line in errors] == [f"{bad} line {n}" for n in (1, 2, 3, 4, 5)]
    assert "no stored paragraph matches paragraph_id 'no-such-doc/0'" in errors[0]
    assert "'pharmacodynamics' is not one of absorption, distribution" in errors[1]
    assert "not valid JSON" in errors[2]
    assert "no paragraph_id, text_hash or text" in errors[3]
    assert "not a JSON object" in errors[4]
    assert "stored 1 review covering 1 paragraph" in result.stdout
    assert query(db, "SELECT label, reviewer FROM reviews ORDER BY review_id") == [
        ("other", reviews.getpass.getuser()),
        ("absorption", "bo"),
    ]
    assert current_labels(db)[good_id] == "absorption"


@pytest.mark.parametrize(
    ("content", "name", "fault"),
    [
        ("", "empty.jsonl", "empty file, no reviews in it"),
        ("\n  \n", "blank.csv", "empty file, no reviews in it"),
        ("paragraph_id,label\n", "header.csv", "no review rows in it"),
        ("id,verdict\nx,other\n", "nolabel.csv", "no `label` column (columns: id, verdict)"),
    ],
)
def test_files_with_nothing_to_store_are_one_line_errors_and_lose_nothing(
    db, tmp_path, content, name, fault
):
    """Empty file, header alone, CSV without `label`: exit 1 naming the file; no row lost."""
    pid = paragraph_id_of(db, "98% bound.")
    reviews.import_reviews(
        db, write_jsonl(tmp_path / "one.jsonl", [{"paragraph_id": pid, "label": "distribution"}])
    )
    before = reporting_db.table_rows(db, "reviews")
    path = tmp_path / name
    path.write_text(content)
    result = CliRunner().invoke(app, ["review", "import", str(path), "--db", str(db)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {path}: {fault}"
    assert reporting_db.table_rows(db, "reviews") == before


def test_malformed_csv_rows_are_refused_by_line(db, tmp_path):
    """Too many or too few fields: refused with the line number; the good row is stored."""
    pid = paragraph_id_of(db, "98% bound.")
    path = tmp_path / "rows.csv"
    path.write_text(f"paragraph_id,label\n{pid},distribution,extra\n{pid}\n{pid},distribution\n")
    summary = reviews.import_reviews(db, path)
    assert [(line, reason.split(":")[0]) for line, reason in summary.refused] == [
        (2, "malformed CSV"),
        (3, "malformed CSV"),
    ]
    assert summary.stored == 1


def test_import_into_a_missing_database_creates_nothing(tmp_path):
    """A mistyped --db is an error, not a new empty database."""
    path = write_jsonl(tmp_path / "r.jsonl", [{"paragraph_id": "a/0", "label": "other"}])
    with pytest.raises(AdmeError, match="database does not exist"):
        reviews.import_reviews(tmp_path / "typo.duckdb", path)
    assert not (tmp_path / "typo.duckdb").exists()


# --- append-only, newest wins, undo --------------------------------------------------------


def test_newest_review_wins_undo_falls_back_and_nothing_is_overwritten(db):
    """A, then B: B is in force; undoing B restores A; every step stays in the audit trail."""
    pid = paragraph_id_of(db, "Higher in elderly.")
    con = store.connect(db)
    try:
        first = reviews.record_review(con, pid, "other", "ana", source="page")
        second = reviews.record_review(con, pid, "absorption", "bo", source="page")
        assert second > first
        assert con.execute(
            "SELECT review_label FROM reviewed_paragraphs WHERE paragraph_id = ?", [pid]
        ).fetchone() == ("absorption",)
        undo = reviews.retract_review(con, second, "bo", source="page")
        assert con.execute(
            "SELECT review_label, review_id FROM reviewed_paragraphs WHERE paragraph_id = ?",
            [pid],
        ).fetchone() == ("other", first)
        with pytest.raises(AdmeError, match="already undone"):
            reviews.retract_review(con, second, "bo", source="page")
        with pytest.raises(AdmeError, match="itself an undo"):
            reviews.retract_review(con, undo, "bo", source="page")
        with pytest.raises(AdmeError, match="is not in the database"):
            reviews.record_review(con, "nope/1", "other", "ana", source="page")
        with pytest.raises(AdmeError, match="not one of"):
            reviews.record_review(con, pid, "adme", "ana", source="page")
        trail = con.execute(
            "SELECT review_id, label, retracts FROM reviews ORDER BY review_id"
        ).fetchall()
    finally:
        con.close()
    assert trail == [(first, "other", None), (second, "absorption", None), (undo, None, second)]
    exported = reviews.export_reviews(db, fmt="csv", all_rows=True)
    assert len(exported.splitlines()) == 4  # header + every row, the undo included


def test_two_reviewers_at_once_in_one_process_both_rows_kept_newest_wins(db):
    """Two connections answer the same paragraph at the same moment: both rows are kept and
    the one recorded last (highest review_id) is in force."""
    pid = paragraph_id_of(db, "Higher in elderly.")
    keeper = store.connect(db)  # holds the database instance so both threads share it
    barrier = threading.Barrier(2)
    ids: dict[str, int] = {}
    failures: list[BaseException] = []

    def answer(reviewer: str, label: str) -> None:
        con = keeper.cursor()
        try:
            barrier.wait(timeout=10)
            ids[reviewer] = reviews.record_review(con, pid, label, reviewer, source="page")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            con.close()

    threads = [
        threading.Thread(target=answer, args=("ana", "other")),
        threading.Thread(target=answer, args=("bo", "excretion")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    keeper.close()
    assert not failures, failures
    newest = max(ids, key=ids.get)
    assert query(db, "SELECT count(*) FROM reviews") == [(2,)]
    assert current_labels(db)[pid] == {"ana": "other", "bo": "excretion"}[newest]


@pytest.mark.slow
def test_two_import_processes_at_once_both_rows_kept_newest_wins(db, tmp_path):
    """Two `adme review import` processes on one paragraph: DuckDB lets one write at a time, so
    the second waits for the first; both exit 0, both rows are stored, the later one wins."""
    pid = paragraph_id_of(db, "Higher in elderly.")
    files = {
        label: write_jsonl(tmp_path / f"{label}.jsonl", [{"paragraph_id": pid, "label": label}])
        for label in ("absorption", "metabolism")
    }
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "adme.cli",
                "review",
                "import",
                str(path),
                "--db",
                str(db),
                "--reviewer",
                label,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for label, path in files.items()
    ]
    outcomes = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outcomes
    rows = query(db, "SELECT label FROM reviews ORDER BY review_id")
    assert sorted(r[0] for r in rows) == ["absorption", "metabolism"]
    assert current_labels(db)[pid] == rows[-1][0]


# --- export --------------------------------------------------------------------------------


def test_export_imports_back_into_another_copy(db, tmp_path):
    """`adme review export` then `adme review import` of it: the same labels in force."""
    pid = paragraph_id_of(db, SHARED_TEXT)
    other = paragraph_id_of(db, "Eliminated in bile.")
    reviews.import_reviews(
        db,
        write_jsonl(
            tmp_path / "r.jsonl",
            [
                {"paragraph_id": pid, "label": "metabolism", "reviewer": "ana"},
                {"paragraph_id": other, "label": "excretion", "note": 'says "bile", ok'},
            ],
        ),
    )
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"export.{fmt}"
        result = CliRunner().invoke(app, ["review", "export", "--db", str(db), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"wrote 2 reviews in force to {out}"
        fresh = tmp_path / f"fresh-{fmt}.duckdb"
        fresh.write_bytes(db.read_bytes())
        wipe = store.connect(fresh)
        wipe.execute("DELETE FROM reviews")  # a database without reviews (test setup only)
        wipe.close()
        summary = reviews.import_reviews(fresh, out)
        assert (summary.stored, summary.refused) == (2, [])
        assert current_labels(fresh) == current_labels(db)
        assert query(fresh, "SELECT reviewer, note FROM current_reviews ORDER BY 1") == query(
            db, "SELECT reviewer, note FROM current_reviews ORDER BY 1"
        )


def test_within_one_file_the_later_line_wins(db, tmp_path):
    """Two answers for one text in one file: both stored, in file order; the later is in force."""
    pid = paragraph_id_of(db, "98% bound.")
    lines = [{"paragraph_id": pid, "label": label} for label in ("other", "distribution")] * 40
    summary = reviews.import_reviews(db, write_jsonl(tmp_path / "twice.jsonl", lines))
    assert summary.stored == 80
    stored = [label for (label,) in query(db, "SELECT label FROM reviews ORDER BY review_id")]
    assert stored == [line["label"] for line in lines]
    assert current_labels(db)[pid] == "distribution"


def test_reviewed_texts_are_one_per_text_with_the_label_in_force(db, tmp_path):
    """What `evaluate --on reviews` scores: each text once, newest answer, undone ones out."""
    shared = paragraph_id_of(db, SHARED_TEXT)
    bound = paragraph_id_of(db, "98% bound.")
    with pytest.raises(AdmeError, match="no reviewed paragraphs"):
        reviews.reviewed_texts(db)
    reviews.import_reviews(
        db,
        write_jsonl(
            tmp_path / "r.jsonl",
            [
                {"paragraph_id": shared, "label": "other", "reviewer": "ana"},
                {"paragraph_id": shared, "label": "metabolism", "reviewer": "bo"},
                {"paragraph_id": bound, "label": "distribution", "reviewer": "ana"},
            ],
        ),
    )
    con = store.connect(db)
    try:
        undone = reviews.record_review(con, bound, "excretion", "bo", source="page")
        reviews.retract_review(con, undone, "bo", source="page")
    finally:
        con.close()
    found = reviews.reviewed_texts(db)
    by_text = dict(
        zip(found.texts, zip(found.labels, found.paragraph_ids, strict=True), strict=True)
    )
    copies = [
        pid
        for (pid,) in query(
            db, "SELECT paragraph_id FROM paragraphs WHERE text = ? ORDER BY 1", [SHARED_TEXT]
        )
    ]
    assert by_text == {SHARED_TEXT: ("metabolism", copies), "98% bound.": ("distribution", [bound])}
    assert found.reviewers == 2
