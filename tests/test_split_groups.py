"""adme split --group-by drug | set_id: whole drugs (or labels) on one side, still stratified.

Hand-made corpora give exact checks of the rule (a drug never straddles two parts, a text
shared by drugs on both sides stays on the training side); the shipped sample of real labels
checks the same on real titles and generics.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import store
from adme.cli import app
from adme.spl import Document, Paragraph
from adme.split import drug_from_title, group_keys, make_split

FIVE = ("absorption", "distribution", "metabolism", "excretion", "other")
DRUGS = [f"drug{chr(ord('a') + i)}" for i in range(12)]  # twelve drugs, all of every class
BOILERPLATE = "Pharmacokinetic differences due to race have not been identified."


def label(drug: str, copy: int, extra: list[tuple[str, str]] = ()) -> Document:
    """One label of `drug` (copy 0 is the reference, 1 a generic repeating its text)."""
    texts = [
        (f"The {drug} paragraph {i} on {cls} says something only {drug} labels say.", cls)
        for cls in FIVE
        for i in range(2 if cls != "other" else 6)
    ] + list(extra)
    set_id = f"{drug}-{copy}"
    return Document(
        document_id=f"doc-{set_id}",
        set_id=set_id,
        version=1,
        effective_date=None,
        title=f"These highlights do not include all the information needed to use {drug.upper()}"
        f" TABLETS safely and effectively.",
        doc_type="34391-3",
        source=f"test/{set_id}.xml",
        sha256=f"sha-{set_id}",
        pk_found="43682-4",
        paragraphs=tuple(
            Paragraph(i, "Pharmacokinetics", cls.title(), text, "prose", cls, f"title {cls}")
            for i, (text, cls) in enumerate(texts)
        ),
    )


@pytest.fixture
def drugs_db(tmp_path) -> Path:
    """Twelve drugs, two labels each (reference + generic), one boilerplate text in all."""
    documents = [label(drug, copy, [(BOILERPLATE, "other")]) for drug in DRUGS for copy in range(2)]
    con = store.connect(tmp_path / "drugs.duckdb")
    store.write_documents(con, documents)
    con.close()
    return tmp_path / "drugs.duckdb"


def parts_by_group(db: Path, split: str, group_by: str) -> dict[str, set[str]]:
    """group -> the parts its paragraphs landed in (boilerplate left out)."""
    con = store.connect(db, read_only=True)
    keys = group_keys(con, group_by)
    rows = con.execute(
        "SELECT r.paragraph_id, r.part, p.text FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE split_name = ?",
        [split],
    ).fetchall()
    con.close()
    found: dict[str, set[str]] = defaultdict(set)
    for paragraph_id, part, text in rows:
        if text != BOILERPLATE:
            found[keys[paragraph_id]].add(part)
    return found


def test_every_drug_lands_on_one_side_and_every_class_is_held_out(drugs_db):
    summary = make_split(drugs_db, "bydrug", group_by="drug", test_size=0.25)
    sides = parts_by_group(drugs_db, "bydrug", "drug")
    assert set(sides) == {f"name:{drug}" for drug in DRUGS}
    assert all(len(parts) == 1 for parts in sides.values()), sides
    # 12 drugs alike: 25% of each class is exactly 3 drugs; validation 10% of 9 is 1 drug
    assert summary.groups == {"train": 8, "validation": 1, "test": 3}
    for cls in FIVE:
        per_drug = 2 * (2 if cls != "other" else 6)  # distinct paragraphs x two labels
        assert summary.counts["test"][cls] == 3 * per_drug
    assert "grouped by drug: 12 groups (train 8, validation 1, test 3)" in summary.lines()


def test_a_text_shared_by_drugs_on_both_sides_stays_on_the_training_side(drugs_db):
    summary = make_split(drugs_db, "bydrug", group_by="drug")
    con = store.connect(drugs_db, read_only=True)
    boilerplate_parts = con.execute(
        "SELECT DISTINCT r.part FROM split_rows r JOIN paragraphs p USING (paragraph_id) "
        "WHERE split_name = 'bydrug' AND p.text = ?",
        [BOILERPLATE],
    ).fetchall()
    con.close()
    assert boilerplate_parts == [("train",)]
    assert summary.shared == 1
    assert any(
        line.startswith("1 text found in drug groups on both sides was kept")
        for line in summary.lines()
    )


def test_group_by_set_id_keeps_each_label_whole(drugs_db):
    # each generic repeats its reference word for word, so a drug's two labels are tied by
    # their texts: the split moves them together, and no text is on two sides
    make_split(drugs_db, "bylabel", group_by="set_id", test_size=0.25)
    sides = parts_by_group(drugs_db, "bylabel", "set_id")
    assert len(sides) == 24 and all(len(parts) == 1 for parts in sides.values())
    con = store.connect(drugs_db, read_only=True)
    straddling = con.execute(
        "SELECT count(*) FROM (SELECT p.text_hash FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE split_name = 'bylabel' GROUP BY 1 "
        "HAVING count(DISTINCT r.part) > 1)"
    ).fetchone()[0]
    con.close()
    assert straddling == 0


def test_same_seed_same_rows_other_seed_other_drugs(drugs_db):
    make_split(drugs_db, "a", group_by="drug", seed=1)
    make_split(drugs_db, "b", group_by="drug", seed=1)
    make_split(drugs_db, "c", group_by="drug", seed=2)
    con = store.connect(drugs_db, read_only=True)

    def rows(name: str) -> list:
        return con.execute(
            "SELECT paragraph_id, part FROM split_rows WHERE split_name = ? ORDER BY 1", [name]
        ).fetchall()

    assert rows("a") == rows("b") and rows("a") != rows("c")
    con.close()


@pytest.mark.parametrize(
    ("title", "drug"),
    [
        (
            "These highlights do not include all the information needed to use CELEBREX safely "
            "and effectively. See full prescribing information for CELEBREX. CELEBREX ® "
            "(celecoxib) capsules Initial U.S. Approval: 1998",
            "celecoxib",
        ),
        (
            "These highlights do not include all the information needed to use meloxicam "
            "tablets safety and effectively.",
            "meloxicam",
        ),
        (
            "NuDroxiPAK Pain Relief PAK These highlights do not include all the information "
            "needed to use CELECOXIB CAPSULES. See full prescribing information",
            "celecoxib",
        ),
        ("FLEXIPAK - diclofenac sodium, capsaicin", "diclofenac"),
        ("Diclofenac Sodium Delayed-release Tablets, USP 25 mg, 50 mg and 75 mg", "diclofenac"),
        ("KETOROLAC TROMETHAMINE TABLETS USP, 10 mg 0314 Rx only", "ketorolac"),
        (None, None),
        ("10 mg", None),
    ],
)
def test_drug_name_from_real_titles(title, drug):
    assert drug_from_title(title) == drug


def test_sample_labels_split_by_drug(sample_db):
    result = CliRunner().invoke(
        app, ["split", "bydrug", "--db", str(sample_db), "--group-by", "drug"]
    )
    assert result.exit_code == 0, result.output
    assert "grouped by drug:" in result.stdout
    sides = parts_by_group(sample_db, "bydrug", "drug")
    con = store.connect(sample_db, read_only=True)
    shared = {
        row[0]
        for row in con.execute(
            "SELECT text_hash FROM paragraphs WHERE rule_label IS NOT NULL GROUP BY 1 "
            "HAVING count(DISTINCT set_id) > 1"
        ).fetchall()
    }
    keys = group_keys(con, "drug")
    rows = con.execute(
        "SELECT r.paragraph_id, r.part, p.text_hash FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE split_name = 'bydrug'"
    ).fetchall()
    con.close()
    assert len(sides) > 3
    assert any(key.startswith("ingredients:") for key in keys.values())  # from products
    held = {keys[pid] for pid, part, h in rows if part == "test" and h not in shared}
    trained = {keys[pid] for pid, part, h in rows if part == "train" and h not in shared}
    assert held and trained and not held & trained  # no drug both trained on and scored


def test_unknown_group_by_and_a_single_drug_are_one_line_errors(drugs_db, tmp_path):
    before = store.connect(drugs_db, read_only=True)
    n_splits = before.execute("SELECT count(*) FROM splits").fetchone()[0]
    before.close()
    result = CliRunner().invoke(app, ["split", "x", "--db", str(drugs_db), "--group-by", "atc"])
    assert result.exit_code == 2
    assert result.stderr == "error: --group-by atc: unknown (choose drug or set_id)\n"
    one = tmp_path / "one.duckdb"
    con = store.connect(one)
    store.write_documents(con, [label("druga", 0), label("druga", 1)])
    con.close()
    result = CliRunner().invoke(app, ["split", "x", "--db", str(one), "--group-by", "drug"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot split the test part by group: only 1 group")
    con = store.connect(drugs_db, read_only=True)
    assert con.execute("SELECT count(*) FROM splits").fetchone()[0] == n_splits
    con.close()
