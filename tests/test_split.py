"""adme split: stratified, seeded, leak-free splits and the paper's synthetic imbalances.

Each test builds a real DuckDB file from hand-made documents, so every count is exact and
computed by hand from the rule in adme/split.py: per class, round-half-up(size x n) held out.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import store
from adme.cli import app
from adme.errors import AdmeError
from adme.spl import Document, Paragraph
from adme.split import make_split

FIVE = ("absorption", "distribution", "metabolism", "excretion", "other")
# the main synthetic corpus: 220 distinct texts
SIZES = {"absorption": 40, "distribution": 20, "metabolism": 20, "excretion": 20, "other": 120}


def document(set_id: str, paragraphs: list[tuple[str, str | None]]) -> Document:
    """One hand-made label version holding (text, rule_label) paragraphs."""
    return Document(
        document_id=f"doc-{set_id}",
        set_id=set_id,
        version=1,
        effective_date=None,
        title=f"Label {set_id}",
        doc_type="34391-3",
        source=f"test/{set_id}.xml",
        sha256=f"sha-{set_id}",
        pk_found="43682-4",
        paragraphs=tuple(
            Paragraph(
                ordinal=i,
                section_path="Pharmacokinetics",
                heading=label.title() if label else None,
                text=text,
                kind="prose",
                rule_label=label,
                rule_reason=f"title {label}" if label else None,
            )
            for i, (text, label) in enumerate(paragraphs)
        ),
    )


def distinct_paragraphs(sizes: dict[str, int]) -> list[tuple[str, str]]:
    """`sizes[label]` paragraphs of each label, every text different."""
    return [
        (f"Paragraph {i} about {label}: the drug behaves in way number {i}.", label)
        for label, n in sizes.items()
        for i in range(n)
    ]


def build_db(path: Path, documents: list[Document]) -> Path:
    con = store.connect(path)
    store.write_documents(con, documents)
    con.close()
    return path


@pytest.fixture
def corpus_db(tmp_path) -> Path:
    """220 distinct labelled texts (see SIZES) plus unlabelled ones, in 4 documents."""
    rows = distinct_paragraphs(SIZES) + [(f"Unlabelled text {i}.", None) for i in range(7)]
    documents = [document(f"set{k}", rows[k::4]) for k in range(4)]
    return build_db(tmp_path / "corpus.duckdb", documents)


def stored_rows(db: Path, name: str) -> list[tuple[str, str, str]]:
    con = store.connect(db, read_only=True)
    rows = con.execute(
        "SELECT paragraph_id, part, label FROM split_rows WHERE split_name = ? "
        "ORDER BY paragraph_id",
        [name],
    ).fetchall()
    con.close()
    return rows


def snapshot(db: Path) -> tuple[list, list]:
    con = store.connect(db, read_only=True)
    splits = con.execute(
        "SELECT split_name, params, classes, folded FROM splits ORDER BY 1"
    ).fetchall()
    rows = con.execute("SELECT * FROM split_rows ORDER BY 1, 2").fetchall()
    con.close()
    return splits, rows


def part_class_counts(rows) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {}
    for _, part, label in rows:
        counts.setdefault(part, Counter())[label] += 1
    return {part: dict(c) for part, c in counts.items()}


def test_natural_five_class_split_counts(corpus_db):
    summary = make_split(corpus_db, "natural")
    expected = {
        "test": {"absorption": 6, "distribution": 3, "metabolism": 3, "excretion": 3, "other": 18},
        "validation": {
            "absorption": 3,
            "distribution": 2,
            "metabolism": 2,
            "excretion": 2,
            "other": 10,
        },
        "train": {
            "absorption": 31,
            "distribution": 15,
            "metabolism": 15,
            "excretion": 15,
            "other": 92,
        },
    }
    assert summary.counts == expected
    assert part_class_counts(stored_rows(corpus_db, "natural")) == expected
    con = store.connect(corpus_db, read_only=True)
    report = con.execute(store.sql_text("split_counts")).fetchall()
    con.close()
    assert report[:5] == [("natural", "test", label, expected["test"][label]) for label in FIVE]
    assert sum(n for *_, n in report) == 220
    assert summary.folded == 0
    lines = summary.lines()
    assert any(line.split() == ["absorption", "31", "3", "6"] for line in lines)
    assert any(line.split() == ["total", "168", "19", "33"] for line in lines)


def test_split_is_stored_with_every_parameter(corpus_db):
    make_split(corpus_db, "lt", method="long-tail", mu=0.5, seed=7, validation_size=0.2)
    con = store.connect(corpus_db, read_only=True)
    params, classes, folded = con.execute(
        "SELECT params, classes, folded FROM splits WHERE split_name = 'lt'"
    ).fetchone()
    con.close()
    params = json.loads(params)
    assert params["method"] == "long-tail"
    assert params["mu"] == 0.5
    assert params["seed"] == 7
    assert params["validation_size"] == 0.2
    assert params["allow_duplicates"] is False
    assert {"classes", "test_size", "ratio", "classes_cut", "fraction"} <= set(params)
    assert classes == list(FIVE)
    assert folded == 0


def test_same_parameters_give_the_same_rows(corpus_db):
    make_split(corpus_db, "a", method="ratio", ratio=0.2, seed=11)
    make_split(corpus_db, "b", method="ratio", ratio=0.2, seed=11)
    make_split(corpus_db, "c", method="ratio", ratio=0.2, seed=12)
    a, b, c = (stored_rows(corpus_db, n) for n in "abc")
    assert a == b
    assert [(p, part) for p, part, _ in a] != [(p, part) for p, part, _ in c]


def test_binary_ratio_cuts_the_minority_in_train_only(tmp_path):
    sizes = {"absorption": 20, "distribution": 20, "metabolism": 20, "excretion": 20, "other": 120}
    db = build_db(tmp_path / "b.duckdb", [document("s", distinct_paragraphs(sizes))])
    natural = make_split(db, "natural", classes="binary", validation_size=0)
    ratio = make_split(db, "r", classes="binary", method="ratio", ratio=0.1, validation_size=0)
    assert natural.classes == ("adme", "other")
    assert natural.counts["test"] == {"adme": 12, "other": 18}
    assert natural.counts["train"] == {"adme": 68, "other": 102}
    # n_min = round(0.1 x 102) = 10
    assert ratio.counts["train"] == {"adme": 10, "other": 102}
    assert ratio.removed == {"adme": 58, "other": 0}
    test_rows = [r for r in stored_rows(db, "r") if r[1] == "test"]
    assert test_rows == [r for r in stored_rows(db, "natural") if r[1] == "test"]


@pytest.mark.parametrize(
    ("options", "train"),
    [
        # every class but the largest (other: 102) cut to round(0.1 x 102) = 10
        (
            {"method": "ratio", "ratio": 0.1},
            {"absorption": 10, "distribution": 10, "metabolism": 10, "excretion": 10, "other": 102},
        ),
        # absorption 34 -> round(0.2 x 34) = 7, metabolism 17 -> round(3.4) = 3
        (
            {"method": "step", "classes_cut": ("absorption", "metabolism"), "fraction": 0.2},
            {"absorption": 7, "distribution": 17, "metabolism": 3, "excretion": 17, "other": 102},
        ),
        # sizes desc: other, absorption, distribution, metabolism, excretion (ties: class order)
        # N_i = 102 x 0.5**i = 102, 51 (only 34 exist), 25.5 (only 17), 12.75 -> 13, 6.375 -> 6
        (
            {"method": "long-tail", "mu": 0.5},
            {"absorption": 34, "distribution": 17, "metabolism": 13, "excretion": 6, "other": 102},
        ),
    ],
    ids=["ratio", "step", "long-tail"],
)
def test_imbalance_counts_and_untouched_test_part(corpus_db, options, train):
    natural = make_split(corpus_db, "natural", validation_size=0)
    summary = make_split(corpus_db, "imbalanced", validation_size=0, **options)
    assert summary.counts["train"] == train
    assert summary.counts["test"] == natural.counts["test"]
    natural_test = [r for r in stored_rows(corpus_db, "natural") if r[1] == "test"]
    assert [r for r in stored_rows(corpus_db, "imbalanced") if r[1] == "test"] == natural_test
    # what was cut from train is exactly what the natural split had there, minus the kept rows
    kept = {r[0] for r in stored_rows(corpus_db, "imbalanced") if r[1] == "train"}
    assert kept <= {r[0] for r in stored_rows(corpus_db, "natural") if r[1] == "train"}


def test_imbalance_then_validation_keeps_a_single_unit_class_in_train(corpus_db):
    summary = make_split(corpus_db, "tail", method="long-tail", mu=0.01, validation_size=0.1)
    # N_i = 102 x 0.01**i -> 1 for every class after the largest: nothing left to validate on
    assert summary.counts["train"]["excretion"] == 1
    assert summary.counts["validation"]["excretion"] == 0
    assert summary.counts["validation"]["other"] == 10


@pytest.fixture
def duplicates_db(tmp_path) -> Path:
    """10 absorption + 10 other distinct texts, and three repeated texts across set ids.

    Same text, 5 labels (one copy in other case and spacing), all absorption -> 4 folded.
    Majority: 3 copies absorption + 1 copy other -> keep the 3, drop 1, fold 2.
    Tie: 1 copy absorption + 1 copy other -> the whole text is dropped.
    """
    base = distinct_paragraphs({"absorption": 10, "other": 10})
    repeated = "Peak plasma concentrations are reached 2 hours after an oral dose."
    majority = "The drug is highly bound to plasma proteins."
    tie = "Food delays absorption by one hour."
    documents = [document("base", base)]
    for k in range(5):
        copy = repeated.upper().replace(" ", "  ") if k == 4 else repeated
        documents.append(document(f"generic{k}", [(copy, "absorption")]))
    for k, label in enumerate(["absorption", "absorption", "absorption", "other"]):
        documents.append(document(f"majority{k}", [(majority, label)]))
    documents.append(document("tie0", [(tie, "absorption")]))
    documents.append(document("tie1", [(tie, "other")]))
    return build_db(tmp_path / "dups.duckdb", documents)


def test_duplicates_land_on_one_side_and_are_counted(duplicates_db):
    summary = make_split(
        duplicates_db,
        "leakfree",
        classes="binary",
        test_size=0.3,
        validation_size=0,
    )
    rows = {pid: (part, label) for pid, part, label in stored_rows(duplicates_db, "leakfree")}
    generic_sides = {rows[f"doc-generic{k}/0"] for k in range(5)}
    assert len(generic_sides) == 1
    assert {rows[f"doc-majority{k}/0"] for k in range(3)} in (
        {("train", "adme")},
        {("test", "adme")},
    )
    assert "doc-majority3/0" not in rows  # the disagreeing copy
    assert "doc-tie0/0" not in rows and "doc-tie1/0" not in rows
    assert summary.folded == 4 + 2
    assert summary.conflicting_groups == 2
    assert summary.dropped == 1 + 2
    assert len(rows) == 20 + 5 + 3
    assert any("folded 6 duplicate paragraphs" in line for line in summary.lines())
    con = store.connect(duplicates_db, read_only=True)
    assert con.execute("SELECT folded FROM splits WHERE split_name = 'leakfree'").fetchone() == (6,)
    con.close()


def test_allow_duplicates_splits_every_paragraph_on_its_own(duplicates_db):
    summary = make_split(duplicates_db, "paper", classes="binary", allow_duplicates=True)
    rows = stored_rows(duplicates_db, "paper")
    assert len(rows) == 20 + 5 + 4 + 2  # every labelled paragraph, conflicting copies included
    assert summary.folded == 0
    labels = {pid: label for pid, _, label in rows}
    assert labels["doc-majority3/0"] == "other"  # each copy keeps its own label


def test_replace_rebuilds_an_existing_split(corpus_db):
    make_split(corpus_db, "s", seed=1)
    before = stored_rows(corpus_db, "s")
    with pytest.raises(AdmeError, match="already exists"):
        make_split(corpus_db, "s", seed=2)
    assert stored_rows(corpus_db, "s") == before
    make_split(corpus_db, "s", seed=2, replace=True)
    after = stored_rows(corpus_db, "s")
    assert after != before
    assert len(after) == len(before)


def few_excretion_db(tmp_path: Path) -> Path:
    sizes = {"absorption": 5, "distribution": 5, "metabolism": 5, "excretion": 1, "other": 5}
    return build_db(tmp_path / "few.duckdb", [document("few", distinct_paragraphs(sizes))])


def missing_class_db(tmp_path: Path) -> Path:
    sizes = {"absorption": 5, "distribution": 5, "metabolism": 5, "other": 5}
    return build_db(tmp_path / "missing.duckdb", [document("m", distinct_paragraphs(sizes))])


def unlabelled_db(tmp_path: Path) -> Path:
    rows = [(f"Text {i} without a heading.", None) for i in range(5)]
    return build_db(tmp_path / "unlabelled.duckdb", [document("u", rows)])


@pytest.mark.parametrize(
    ("make_db", "args", "code", "message"),
    [
        (None, ["--method", "smote"], 2, "--method smote: unknown"),
        (None, ["--classes", "three"], 2, "--classes three: unknown"),
        (None, ["--method", "ratio"], 2, "--method ratio needs --ratio, a fraction in (0, 1]"),
        (None, ["--method", "ratio", "--ratio", "0"], 2, "--ratio 0.0: must be in (0, 1]"),
        (None, ["--method", "ratio", "--ratio", "1.5"], 2, "--ratio 1.5: must be in (0, 1]"),
        (None, ["--method", "ratio", "--ratio", "-0.1"], 2, "--ratio -0.1: must be in (0, 1]"),
        (None, ["--ratio", "0.1"], 2, "--ratio applies to --method ratio only, not natural"),
        (None, ["--method", "long-tail", "--mu", "2"], 2, "--mu 2.0: must be in (0, 1]"),
        (None, ["--method", "long-tail"], 2, "--method long-tail needs --mu, a fraction"),
        (None, ["--method", "step", "--fraction", "0.5"], 2, "needs at least one --classes-cut"),
        (None, ["--classes-cut", "other"], 2, "--classes-cut applies to --method step only"),
        (
            None,
            ["--method", "step", "--classes-cut", "adme", "--fraction", "0.5"],
            2,
            "--classes-cut adme: not a five class",
        ),
        (None, ["--test-size", "1.2"], 2, "--test-size 1.2: must be in (0, 1)"),
        (None, ["--test-size", "nan"], 2, "--test-size nan: must be a finite number in (0, 1)"),
        (None, ["--validation-size", "1"], 2, "--validation-size 1.0: must be in [0, 1)"),
        (None, ["existing"], 1, "split 'existing' already exists"),
        (unlabelled_db, [], 1, "no paragraphs with a rule label to split"),
        (few_excretion_db, [], 1, "cannot stratify the test part: class excretion has only 1"),
        (missing_class_db, [], 1, "no labelled paragraphs of class excretion"),
    ],
)
def test_bad_input_is_one_line_and_keeps_stored_splits(
    corpus_db, tmp_path, make_db, args, code, message
):
    """Options that do not fit are usage errors (exit 2), data faults exit 1: one line each."""
    db = make_db(tmp_path) if make_db else corpus_db
    if make_db is None:
        make_split(db, "existing", classes="binary", allow_duplicates=True)
    before = snapshot(db)
    name = [] if args[:1] == ["existing"] else ["new"]
    result = CliRunner().invoke(app, ["split", *name, *args, "--db", str(db)])
    assert result.exit_code == code
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert snapshot(db) == before


def test_cli_prints_the_class_counts(corpus_db):
    result = CliRunner().invoke(app, ["split", "cli", "--db", str(corpus_db), "--seed", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["class", "train", "validation", "test"]
    assert lines[-2].split() == ["total", "168", "19", "33"]
    assert "folded 0 duplicate paragraphs" in lines[-1]
    assert len(stored_rows(corpus_db, "cli")) == 220


def test_natural_split_of_the_shipped_sample(sample_db):
    con = store.connect(sample_db, read_only=True)
    labelled = dict(
        con.execute(
            "SELECT rule_label, count(*) FROM paragraphs WHERE rule_label IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    distinct, copies = con.execute(
        "SELECT count(DISTINCT text_hash), count(*) FROM paragraphs WHERE rule_label IS NOT NULL"
    ).fetchone()
    con.close()
    summary = make_split(sample_db, "sample", classes="five")
    rows = stored_rows(sample_db, "sample")
    assert set(labelled) == set(FIVE)
    assert sum(summary.total(p) for p in ("train", "validation", "test")) == len(rows)
    assert len(rows) + summary.dropped == copies
    assert distinct < copies  # generics repeat paragraphs: there is something to fold
    for label in FIVE:  # every class is on every side, about 15% of it in test
        assert summary.counts["train"][label] > 0 and summary.counts["test"][label] > 0
    con = store.connect(sample_db, read_only=True)
    kept_texts = con.execute(
        "SELECT count(DISTINCT p.text_hash) FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE split_name = 'sample'"
    ).fetchone()[0]
    sides = con.execute(
        "SELECT count(*) FROM (SELECT p.text_hash FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE split_name = 'sample' GROUP BY 1 "
        "HAVING count(DISTINCT r.part) > 1)"
    ).fetchone()[0]
    con.close()
    assert sides == 0  # no text on two sides
    assert summary.folded == len(rows) - kept_texts > 0


def test_missing_database_is_one_line_and_creates_no_file(tmp_path):
    missing = tmp_path / "typo.duckdb"
    result = CliRunner().invoke(app, ["split", "s", "--db", str(missing)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: database does not exist (run `adme fetch` first)\n"
    assert not missing.exists()
