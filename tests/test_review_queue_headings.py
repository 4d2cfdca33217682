"""Bare headings stay out of the review queues (issue 11).

Real labels write sub-headings as plain paragraphs ("<paragraph>Absorption</paragraph>", the
meloxicam label; "<paragraph>Naproxen</paragraph>" under each ADME heading of the
naproxen/esomeprazole label): no emphasis, so they are stored as paragraphs of their own, with
no content a reviewer could label. The review_queue and disagreements reports and every queue
of the review page must leave them out and keep every other paragraph.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from lxml import etree

from adme import reports, store
from adme.fetch import fetch_from_path
from adme.review_page import queue_items
from tests import reporting_db
from tests.conftest import SAMPLE_SPL

LABELS = (
    "02f9696c-87d0-4f2b-a90f-d04b3ba767b1_v2.xml",
    "9513589d-ef5d-4b8d-a90a-6adb6af2ae11_v1.xml",
)
MODEL = "unsure@000000000000"


def plain_short_paragraphs(xml: Path) -> set[str]:
    """Texts of the label's <paragraph> elements that hold only a few words of plain text (no
    markup, no full stop): what the label prints as a heading line, read from the XML itself."""
    found = set()
    for element in etree.parse(str(xml)).iter("{urn:hl7-org:v3}paragraph"):
        text = " ".join((element.text or "").split())
        if len(element) == 0 and text and len(text.split()) <= 4 and not text.endswith("."):
            found.add(text)
    return found


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """The two real labels, fetched as a user would, with a model that calls every paragraph
    `other` at confidence 0.3 (so every unlabelled one is in the confidence queue and every
    ADME-labelled one a disagreement)."""
    root = tmp_path_factory.mktemp("headings")
    folder = root / "labels"
    folder.mkdir()
    for name in LABELS:
        shutil.copyfile(SAMPLE_SPL / name, folder / name)
    path = root / "adme.duckdb"
    summary = fetch_from_path(path, folder, root / "cache", progress=False)
    assert summary.fetched == 2 and not summary.rejects
    con = store.connect(path)
    try:
        ids = [r[0] for r in con.execute("SELECT paragraph_id FROM paragraphs").fetchall()]
        reporting_db.write_predictions(con, [(pid, MODEL, "other", 0.3) for pid in ids])
    finally:
        con.close()
    return path


def stored(db: Path) -> list[tuple]:
    """(paragraph_id, text, rule_label, set_id) of every stored paragraph."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT paragraph_id, text, rule_label, set_id FROM paragraphs"
        ).fetchall()


@pytest.fixture(scope="module")
def bare(db) -> set[str]:
    """paragraph_ids of the stored paragraphs that are one of the labels' plain heading lines."""
    lines = set().union(*(plain_short_paragraphs(SAMPLE_SPL / name) for name in LABELS))
    ids = {pid for pid, text, _, _ in stored(db) if text in lines}
    texts = {text for pid, text, _, _ in stored(db) if pid in ids}
    # The shape of the bug: headings stored as paragraphs, with and without a rule label.
    assert {"Absorption", "Distribution", "Naproxen", "Esomeprazole"} <= texts
    labels = {rule for pid, _, rule, _ in stored(db) if pid in ids}
    assert None in labels and labels - {None}
    return ids


def test_review_queue_report_leaves_out_bare_headings(db, bare):
    columns, rows = reports.run_report(db, "review_queue", {"model_id": MODEL})
    listed = {row[columns.index("paragraph_id")] for row in rows}
    unlabelled = {pid for pid, _, rule, _ in stored(db) if rule is None}
    assert listed == unlabelled - bare
    assert unlabelled & bare  # there was something to leave out


def test_disagreements_report_leaves_out_bare_headings(db, bare):
    columns, rows = reports.run_report(db, "disagreements", {"model_id": MODEL})
    listed = {row[columns.index("paragraph_id")] for row in rows}
    differing = {pid for pid, _, rule, _ in stored(db) if rule not in (None, "other")}
    assert listed == differing - bare
    assert differing & bare


@pytest.mark.parametrize("queue", ["confidence", "disagreements", "drug"])
def test_review_page_queues_leave_out_bare_headings(db, bare, queue):
    by_id = {pid: (text, rule, set_id) for pid, text, rule, set_id in stored(db)}
    set_ids = sorted({set_id for _, _, set_id in by_id.values()}) if queue == "drug" else [None]
    for set_id in set_ids:
        answer = queue_items(db, queue, MODEL, set_id, limit=1000)
        shown = {item["paragraph_id"] for item in answer["items"]}
        assert shown and not shown & bare, (queue, set_id)
        assert answer["total"] == len(shown)  # the counter counts no heading either
        if queue == "drug":
            assert shown == {p for p, (_, _, s) in by_id.items() if s == set_id} - bare


def test_bare_heading_is_stored_with_each_paragraph(db, bare):
    """The queues filter on paragraphs.bare_heading, written with the paragraph at ingest."""
    with duckdb.connect(str(db), read_only=True) as con:
        query = "SELECT paragraph_id FROM paragraphs WHERE bare_heading"
        flagged = {r[0] for r in con.execute(query).fetchall()}
        unset = con.execute("SELECT count(*) FROM paragraphs WHERE bare_heading IS NULL").fetchone()
    assert flagged == bare and unset == (0,)


def test_a_database_from_before_bare_heading_gets_it_on_a_read_only_open(db, tmp_path):
    """A file written before heading_only and paragraphs.bare_heading existed: the reports
    still run and leave the headings out (the schema is applied once before reading, as for
    a missing view)."""
    old = tmp_path / "old.duckdb"
    shutil.copyfile(db, old)
    with duckdb.connect(str(old)) as con:
        con.execute("ALTER TABLE paragraphs DROP COLUMN bare_heading")
        con.execute("DROP MACRO heading_only")
    for report in ("review_queue", "disagreements"):
        rows = reports.run_report(old, report, {"model_id": MODEL})[1]
        assert rows == reports.run_report(db, report, {"model_id": MODEL})[1], report
