"""`adme split NAME --reviews`: reviewed labels override the rule and add unlabelled paragraphs,
and copies of one text still land on one side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import reviews, store
from adme.cli import app
from adme.errors import AdmeError
from adme.split import make_split


def rows_of(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one read-only query."""
    con = store.connect(db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def reviewed_db(sample_db, tmp_path) -> tuple[Path, dict[str, str]]:
    """The sample database with three reviews: one unlabelled text with several copies made
    metabolism, one rule-labelled `other` paragraph made absorption, and one answer undone."""
    ((copied_hash,),) = rows_of(
        sample_db,
        "SELECT text_hash FROM paragraphs WHERE rule_label IS NULL GROUP BY text_hash "
        "HAVING count(*) > 2 ORDER BY text_hash LIMIT 1",
    )
    ((overridden,),) = rows_of(
        sample_db,
        "SELECT min(paragraph_id) FROM paragraphs WHERE rule_label = 'other' AND text_hash IN "
        "(SELECT text_hash FROM paragraphs GROUP BY 1 HAVING count(*) = 1)",
    )
    ((undone,),) = rows_of(
        sample_db,
        "SELECT min(paragraph_id) FROM paragraphs WHERE rule_label IS NULL AND text_hash IN "
        "(SELECT text_hash FROM paragraphs GROUP BY 1 HAVING count(*) = 1)",
    )
    path = tmp_path / "answers.jsonl"
    path.write_text(
        json.dumps({"text_hash": copied_hash, "label": "metabolism"})
        + "\n"
        + json.dumps({"paragraph_id": overridden, "label": "absorption"})
        + "\n"
    )
    assert reviews.import_reviews(sample_db, path, "ana").refused == []
    con = store.connect(sample_db)
    try:
        review_id = reviews.record_review(con, undone, "excretion", "ana", source="page")
        reviews.retract_review(con, review_id, "ana", source="page")
    finally:
        con.close()
    return sample_db, {"copied_hash": copied_hash, "overridden": overridden, "undone": undone}


def test_reviewed_labels_override_and_add_and_copies_stay_on_one_side(reviewed_db):
    """Reviewed labels reach split_rows; an undone answer does not; no text on two sides."""
    db, picked = reviewed_db
    summary = make_split(db, "rev", reviews=True, test_size=0.2)
    make_split(db, "plain", test_size=0.2)
    labels = dict(rows_of(db, "SELECT paragraph_id, label FROM split_rows WHERE split_name='rev'"))
    plain_labels = dict(
        rows_of(db, "SELECT paragraph_id, label FROM split_rows WHERE split_name='plain'")
    )
    copies = [
        pid
        for (pid,) in rows_of(
            db, "SELECT paragraph_id FROM paragraphs WHERE text_hash = ?", [picked["copied_hash"]]
        )
    ]
    assert len(copies) > 2
    assert {labels[pid] for pid in copies} == {"metabolism"}
    assert not set(copies) & set(plain_labels)  # the rule left them out
    assert labels[picked["overridden"]] == "absorption"
    assert plain_labels[picked["overridden"]] == "other"
    assert picked["undone"] not in labels  # its only answer was retracted
    assert summary.reviewed == {"overridden": 1, "added": len(copies), "confirmed": 0}
    assert summary.total("train") + summary.total("validation") + summary.total("test") == len(
        labels
    )
    leaks = rows_of(
        db,
        "SELECT p.text_hash FROM split_rows r JOIN paragraphs p USING (paragraph_id) "
        "WHERE r.split_name = 'rev' GROUP BY 1 HAVING count(DISTINCT r.part) > 1",
    )
    assert leaks == []
    ((params,),) = rows_of(db, "SELECT params FROM splits WHERE split_name = 'rev'")
    assert (
        json.loads(params)["reviews_through"]
        == rows_of(db, "SELECT max(review_id) FROM reviews")[0][0]
    )


def test_split_reviews_cli_prints_what_reviews_changed(reviewed_db):
    """The CLI line says how many paragraphs reviews relabelled and added."""
    db, _ = reviewed_db
    result = CliRunner().invoke(app, ["split", "rev", "--reviews", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "reviews: 1 paragraph relabelled" in result.output


def test_split_reviews_without_any_review_is_a_one_line_error(sample_db):
    """--reviews on a database with no reviews: an error, and no split is stored."""
    with pytest.raises(AdmeError, match="holds no reviews"):
        make_split(sample_db, "rev", reviews=True)
    assert rows_of(sample_db, "SELECT count(*) FROM splits") == [(0,)]
