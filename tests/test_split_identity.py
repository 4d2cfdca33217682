"""A split's content identity, and reports that never mix two versions of one split name.

Seen by a user (issue 13): a second quick start rebuilt split `natural` after `adme label` had
stored new labelled paragraphs, and the reports then showed "2 seeds" with an error bar, both
seed 42, on two different versions of the split.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from adme import plots, reports, store
from adme.split import make_split
from tests.test_split import SIZES, build_db, distinct_paragraphs, document


@pytest.fixture
def corpus(tmp_path) -> Path:
    rows = distinct_paragraphs(SIZES)
    return build_db(tmp_path / "corpus.duckdb", [document(f"set{k}", rows[k::4]) for k in range(4)])


def content_id(db: Path, name: str) -> str:
    con = store.connect(db, read_only=True)
    try:
        return con.execute("SELECT content_id FROM splits WHERE split_name = ?", [name]).fetchone()[
            0
        ]
    finally:
        con.close()


def add_labelled_document(db: Path) -> None:
    """What `adme label data/new` does to the database: more rule-labelled paragraphs."""
    extra = [(f"New absorption text number {i}.", "absorption") for i in range(6)]
    con = store.connect(db)
    store.write_documents(con, [document("new", extra)])
    con.close()


def test_same_content_same_identity_and_new_paragraphs_a_new_one(corpus):
    first = make_split(corpus, "natural")
    assert first.content_id and len(first.content_id) == 16
    assert f"content {first.content_id}" in first.lines()[0]
    rebuilt = make_split(corpus, "natural", replace=True)  # unchanged paragraphs
    assert rebuilt.content_id == first.content_id == content_id(corpus, "natural")
    assert make_split(corpus, "other-name").content_id == first.content_id  # rows, not name
    add_labelled_document(corpus)
    kept = make_split(corpus, "natural")  # the quick start's second run: same parameters
    assert kept.kept and kept.content_id == first.content_id
    assert kept.counts == first.counts
    assert "kept: already stored with these parameters" in "\n".join(kept.lines())
    changed = make_split(corpus, "natural", replace=True)
    assert changed.content_id != first.content_id
    assert changed.total("train") + changed.total("test") > first.total("train") + first.total(
        "test"
    )


def test_an_old_database_migrates_without_losing_rows(corpus):
    make_split(corpus, "natural")
    expected = content_id(corpus, "natural")
    con = duckdb.connect(str(corpus))
    con.execute("UPDATE splits SET content_id = NULL")  # as an older adme left it
    con.execute(
        "INSERT INTO runs (run_id, split, method, model, seed, started) VALUES "
        "('after', 'natural', 'tfidf', 'm', 1, now() + INTERVAL 1 DAY), "
        "('before', 'natural', 'tfidf', 'm', 1, TIMESTAMP '2000-01-01')"
    )
    rows_before = con.execute("SELECT count(*) FROM split_rows").fetchone()
    con.close()
    con = store.connect(corpus)  # the schema is applied on open
    try:
        assert con.execute("SELECT count(*) FROM split_rows").fetchone() == rows_before
        assert con.execute("SELECT content_id FROM splits").fetchone()[0] == expected
        ids = dict(con.execute("SELECT run_id, split_id FROM runs").fetchall())
    finally:
        con.close()
    # a run older than the split's last rebuild trained on an unknown version
    assert ids == {"after": expected, "before": None}


def insert_run(con, run_id: str, split_id: str, seed: int, macro: float, day: int) -> None:
    con.execute(
        "INSERT INTO runs (run_id, split, split_id, method, model, seed, started, finished) "
        "VALUES (?, 'natural', ?, 'two-stage', 'm', ?, TIMESTAMP '2026-01-01' + to_days(?), "
        "TIMESTAMP '2026-01-01' + to_days(?))",
        [run_id, split_id, seed, day, day],
    )
    for cls, f1 in (("macro", macro), ("micro", macro), ("absorption", macro)):
        con.execute(
            "INSERT INTO metrics VALUES (?, 'test', ?, ?, ?, ?, 10)", [run_id, cls] + [f1] * 3
        )


@pytest.fixture
def two_versions(tmp_path) -> Path:
    """Split `natural` in two versions; seed 42 on each, and on v2 seed 42 twice and seed 7."""
    db = tmp_path / "runs.duckdb"
    con = store.connect(db)
    insert_run(con, "a", "v1aaaaaaaaaaaaaa", 42, 0.5, 1)
    insert_run(con, "b", "v2bbbbbbbbbbbbbb", 42, 0.6, 2)
    insert_run(con, "c", "v2bbbbbbbbbbbbbb", 42, 0.7, 3)  # a rerun of seed 42: newest counts
    insert_run(con, "d", "v2bbbbbbbbbbbbbb", 7, 0.9, 4)
    con.close()
    return db


def test_runs_summary_keeps_versions_apart_and_counts_distinct_seeds(two_versions):
    columns, rows = reports.run_report(two_versions, "runs_summary")
    got = {r[columns.index("split_id")]: dict(zip(columns, r, strict=True)) for r in rows}
    assert set(got) == {"v1aaaaaaaaaaaaaa", "v2bbbbbbbbbbbbbb"}
    v1, v2 = got["v1aaaaaaaaaaaaaa"], got["v2bbbbbbbbbbbbbb"]
    assert v1["seeds"] == 1 and v1["macro_f1"] == 0.5 and v1["macro_f1_se"] is None
    assert v2["seeds"] == 2 and v2["macro_f1"] == pytest.approx(0.8)  # seeds 42 (0.7) and 7
    assert v2["macro_f1_se"] == pytest.approx(0.1, abs=1e-4)


def test_per_class_f1_plot_names_versions_and_draws_no_error_bar_from_one_seed(two_versions):
    _, rows = reports.run_query(two_versions, "plot_per_class_f1", {"runs": None})
    groups, seeds, splits = plots.f1_groups(rows)
    assert splits == {"natural@v1aaaaaa", "natural@v2bbbbbb"}
    assert seeds == {"natural@v1aaaaaa / two-stage": 1, "natural@v2bbbbbb / two-stage": 2}
    assert groups["natural@v1aaaaaa / two-stage"]["absorption"] == (0.5, None)
    mean, se = groups["natural@v2bbbbbb / two-stage"]["absorption"]
    assert mean == pytest.approx(0.8) and se == pytest.approx(0.1)
    figure = plots.per_class_f1_figure(two_versions)
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [
        "natural@v1aaaaaa / two-stage (1 seed)",
        "natural@v2bbbbbb / two-stage (2 seeds)",
    ]
