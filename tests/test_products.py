"""Products and ingredients read from real labels (data/spl/), stored and backfilled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from adme import store
from adme.fetch import fetch_from_path
from adme.products import parse_products
from adme.spl import parse_spl, parse_xml
from tests.conftest import ROOT, SAMPLE_SPL

LIPITOR = SAMPLE_SPL / "c6e131fe-e7df-4876-83f7-9156fc4e8228_v11.xml"  # NDA, 4 strengths
HUMIRA = SAMPLE_SPL / "608d4f0d-b19f-46d3-749a-7159aa5f933d_v1560.xml"  # BLA, kits
IBUPROFEN_SUSPENSION = SAMPLE_SPL / "07f01136-4649-4c5d-93c5-a8a7dbced9a1_v1.xml"  # ANDA
OLD_MARKUP = SAMPLE_SPL / "99EB1A81-8472-4CFB-BAD8-739636AB5BEC_v1.xml"  # manufacturedMedicine
NOT_A_LABEL = SAMPLE_SPL / "3e08de72-c32e-42a8-840e-1aaa4a01ffde_v1.xml"  # no products


def _products(path: Path):
    return parse_products(parse_xml(path.read_bytes(), str(path)))


def test_nda_label_every_product_field():
    products = _products(LIPITOR)
    assert [p.ordinal for p in products] == [1, 2, 3, 4]
    first = products[0]
    assert first.name == "Lipitor"
    assert first.generic_name == "atorvastatin calcium"
    assert first.dosage_form == "TABLET, FILM COATED"
    assert first.route == "ORAL"
    assert first.marketing_category == "NDA"
    assert first.application_number == "NDA020702"
    assert first.labeler == "Parke-Davis Div of Pfizer Inc"
    assert [p.ndc_product_codes for p in products] == [
        ("0071-0155",),
        ("0071-0156",),
        ("0071-0157",),
        ("0071-0158",),
    ]
    active = [i for p in products for i in p.ingredients if i.role == "active"]
    assert [i.strength for i in active] == ["10 mg", "20 mg", "40 mg", "80 mg"]
    assert {(i.name, i.unii, i.class_code, i.moiety_name, i.moiety_unii) for i in active} == {
        ("ATORVASTATIN CALCIUM TRIHYDRATE", "48A5M73Z4Q", "ACTIM", "ATORVASTATIN", "A0JWA85V8F")
    }
    inactive = [i for i in products[0].ingredients if i.role == "inactive"]
    assert inactive[0].name == "CALCIUM CARBONATE" and inactive[0].unii == "H0G9379FGK"
    assert inactive[0].class_code == "IACT" and inactive[0].strength is None


def test_anda_label_with_strength_per_volume():
    (product,) = _products(IBUPROFEN_SUSPENSION)
    assert (product.name, product.generic_name, product.dosage_form, product.route) == (
        "Ibuprofen",
        "Ibuprofen",
        "SUSPENSION",
        "ORAL",
    )
    assert (product.marketing_category, product.application_number) == ("ANDA", "ANDA076925")
    assert product.labeler == "Rebel Distributors Corp"
    assert product.ndc_product_codes == ("21695-420",)
    (active,) = [i for i in product.ingredients if i.role == "active"]
    assert (active.name, active.unii, active.class_code, active.strength) == (
        "Ibuprofen",
        "WK2XYI10QM",
        "ACTIB",
        "100 mg/5 mL",
    )


def test_bla_label_with_kits():
    products = _products(HUMIRA)
    assert [p.dosage_form for p in products] == ["KIT", "KIT", "KIT", "INJECTION, SOLUTION"]
    assert {(p.marketing_category, p.application_number) for p in products} == {
        ("BLA", "BLA125057")
    }
    kit = products[0]
    assert (kit.name, kit.generic_name, kit.labeler) == ("Humira", "Adalimumab", "AbbVie Inc.")
    assert kit.route == "SUBCUTANEOUS, TOPICAL"  # the kit's parts' routes
    assert kit.ndc_product_codes == ("0074-3799",)
    # A kit's ingredients are its parts' (the syringe's adalimumab, the pad's alcohol).
    names = {(i.name, i.role, i.strength) for i in kit.ingredients}
    assert ("ADALIMUMAB", "active", "40 mg/0.8 mL") in names
    assert any(name == "ISOPROPYL ALCOHOL" for name, _, _ in names)


def test_pre_2009_markup_without_approval():
    products = _products(OLD_MARKUP)
    assert [p.ndc_product_codes for p in products] == [
        ("20091-531",),
        ("20091-533",),
        ("20091-535",),
    ]
    first = products[0]
    assert (first.name, first.dosage_form, first.route) == (
        "Metformin Hydrochloride",
        "TABLET, FILM COATED",
        "ORAL",
    )
    assert first.marketing_category is None and first.application_number is None
    assert first.labeler == "Provident Pharmaceutical, Inc"
    active = [i for i in first.ingredients if i.role == "active"]
    assert [(i.name, i.unii, i.strength, i.moiety_name) for i in active] == [
        ("metformin hydrochloride", "786Z46389E", "500 mg", "metformin")
    ]
    assert sum(i.role == "inactive" for i in first.ingredients) == 10


def test_document_that_is_not_a_label_has_no_products():
    assert _products(NOT_A_LABEL) == ()
    assert parse_spl(NOT_A_LABEL.read_bytes(), str(NOT_A_LABEL)).products == ()


def _rows(db: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_fetch_stores_products_and_ingredients(sample_db):
    rows = _rows(
        sample_db,
        "SELECT p.product_ordinal, p.name, p.marketing_category, p.application_number, "
        "p.ndc_product_codes, i.strength FROM products p JOIN documents d USING (document_id) "
        "JOIN ingredients i ON i.document_id = p.document_id "
        "AND i.product_ordinal = p.product_ordinal AND i.role = 'active' "
        "WHERE d.set_id = 'c6e131fe-e7df-4876-83f7-9156fc4e8228' ORDER BY 1",
    )
    assert rows[0] == (1, "Lipitor", "NDA", "NDA020702", ["0071-0155"], "10 mg")
    assert len(rows) == 4
    counts = dict(
        _rows(
            sample_db,
            "SELECT regexp_extract(source, '[^/]+$'), products_found FROM documents",
        )
    )
    assert counts[LIPITOR.name] == 4 and counts[NOT_A_LABEL.name] == 0
    assert None not in counts.values()
    every = _rows(sample_db, "SELECT count(*) FROM products")[0][0]
    assert every == sum(counts.values())


# A database written by adme before products existed: the schema and writer of that code,
# reproduced by dropping what it lacked.
def _as_before_products(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("DROP TABLE products")
        con.execute("DROP TABLE ingredients")
        con.execute("DROP VIEW latest_documents")
        con.execute("ALTER TABLE documents DROP COLUMN products_found")
        con.execute(
            "INSERT INTO predictions (paragraph_id, model_id, label, confidence, probs) "
            "SELECT paragraph_id, 'm@1', 'absorption', 0.9, MAP {'absorption': 0.9} "
            "FROM paragraphs"
        )
    finally:
        con.close()


def _snapshot(db: Path) -> dict:
    return {
        "paragraphs": sorted(_rows(db, "SELECT * FROM paragraphs")),
        "predictions": sorted(_rows(db, "SELECT paragraph_id, model_id, label FROM predictions")),
        "documents": sorted(
            _rows(db, "SELECT document_id, set_id, version, title, sha256 FROM documents")
        ),
    }


def test_rerun_fills_products_of_old_database_keeping_predictions(sample_db, tmp_path):
    expected_products = sorted(_rows(sample_db, "SELECT * FROM products"))
    expected_ingredients = sorted(_rows(sample_db, "SELECT * FROM ingredients"))
    _as_before_products(sample_db)
    before = _snapshot(sample_db)
    assert before["predictions"]

    summary = fetch_from_path(sample_db, SAMPLE_SPL, tmp_path / "cache", progress=False)
    assert summary.fetched == 0 and summary.paragraphs_added == 0
    assert summary.products_filled == len(before["documents"])
    assert "products read for" in summary.line()
    assert _snapshot(sample_db) == before
    assert sorted(_rows(sample_db, "SELECT * FROM products")) == expected_products
    assert sorted(_rows(sample_db, "SELECT * FROM ingredients")) == expected_ingredients

    again = fetch_from_path(sample_db, SAMPLE_SPL, tmp_path / "cache", progress=False)
    assert again.products_filled == 0 and again.skipped == summary.skipped
    assert sorted(_rows(sample_db, "SELECT * FROM products")) == expected_products


def test_rerun_in_parse_processes_fills_products_too(sample_db, tmp_path):
    expected = sorted(_rows(sample_db, "SELECT * FROM ingredients"))
    _as_before_products(sample_db)
    summary = fetch_from_path(
        sample_db, SAMPLE_SPL, tmp_path / "cache", progress=False, parse_workers=2
    )
    assert summary.products_filled > 0
    assert sorted(_rows(sample_db, "SELECT * FROM ingredients")) == expected


def test_fill_products_touches_only_documents_never_read(sample_db):
    document = parse_spl(LIPITOR.read_bytes(), str(LIPITOR))
    con = store.connect(sample_db)
    try:
        assert store.fill_products(con, [document]) == 0  # already read at ingest
        assert store.documents_without_products(con) == set()
    finally:
        con.close()


def test_old_database_gains_tables_on_open(sample_db):
    _as_before_products(sample_db)
    con = store.connect(sample_db)
    try:
        missing = store.documents_without_products(con)
        assert len(missing) == con.execute("SELECT count(*) FROM documents").fetchone()[0]
        assert con.execute("SELECT count(*) FROM products").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize("flag", ["--no-progress"])
def test_cli_rerun_prints_products_filled(sample_db, tmp_path, flag):
    _as_before_products(sample_db)
    folder = tmp_path / "two"
    folder.mkdir()
    for path in (LIPITOR, NOT_A_LABEL):
        shutil.copy(path, folder / path.name)
    done = subprocess.run(
        [sys.executable, "-m", "adme.cli", "fetch", "--from", str(folder), "--db", str(sample_db),
         "--cache", str(tmp_path / "cache"), flag],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "skipped 2 already stored" in done.stdout
    assert "products read for 2 stored documents" in done.stdout


# --- names and reports ------------------------------------------------------------------------

CELEBREX_SET = "bff7e0aa-0c01-4f6e-89ed-da27cc36706e"  # NDA (reference) in data/spl
LIPITOR_SET = "c6e131fe-e7df-4876-83f7-9156fc4e8228"


def _names(db: Path) -> dict[str, tuple]:
    rows = _rows(
        db,
        "SELECT d.set_id, n.display_name, n.active_ingredients, n.marketing_category "
        "FROM latest_documents d JOIN document_names n USING (document_id)",
    )
    return {r[0]: r[1:] for r in rows}


def test_display_names_come_from_products_then_title(sample_db):
    names = _names(sample_db)
    assert names[LIPITOR_SET] == ("Lipitor (atorvastatin calcium)", "atorvastatin", "NDA")
    assert names["9513589d-ef5d-4b8d-a90a-6adb6af2ae11"][1] == "esomeprazole + naproxen"
    assert names["608d4f0d-b19f-46d3-749a-7159aa5f933d"] == (
        "Humira (Adalimumab)",
        "adalimumab",
        "BLA",
    )
    # Not a drug label: no product names, no title: its set id.
    assert names["3e08de72-c32e-42a8-840e-1aaa4a01ffde"] == (
        "3e08de72-c32e-42a8-840e-1aaa4a01ffde",
        None,
        None,
    )
    assert not any(n.lower().startswith("these highlights") for n, *_ in names.values())

    # Without products (not read yet), a PLR label is named by its highlights' product line.
    con = duckdb.connect(str(sample_db))
    con.execute("DELETE FROM products WHERE set_id = ?", [LIPITOR_SET])
    con.close()
    assert _names(sample_db)[LIPITOR_SET][0] == (
        "LIPITOR ® (atorvastatin calcium) Tablets for oral administration"
    )


def _report(db: Path, name: str, params: dict | None = None) -> list[dict]:
    from adme import reports

    columns, rows = reports.run_report(db, name, params or {})
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_reports_name_drugs_by_display_name(sample_db):
    names = {s: n for s, (n, *_) in _names(sample_db).items()}
    by_drug = _report(sample_db, "labels_by_drug")
    assert {r["set_id"]: r["display_name"] for r in by_drug} == names
    for report in ("unlabelled", "labels_by_drug"):
        rows = _report(sample_db, report)
        assert rows and all("title" not in r for r in rows)
        assert all(r["display_name"] == names[r["set_id"]] for r in rows), report


def test_adme_by_drug_groups_latest_labels_by_active_ingredient(sample_db):
    rows = [r for r in _report(sample_db, "adme_by_drug") if r["labelled_by"] == "rule"]
    by_drug = _report(sample_db, "labels_by_drug")
    expected: dict[str, list[int]] = {}
    for r in by_drug:
        if r["total"]:
            group = expected.setdefault(r["active_ingredients"] or r["display_name"], [0, 0])
            group[1] += r["total"]
    for r in by_drug:
        key = r["active_ingredients"] or r["display_name"]
        if key in expected:
            expected[key][0] += 1
    assert {r["active_ingredients"]: [r["labels"], r["total"]] for r in rows} == expected
    celecoxib = next(r for r in rows if r["active_ingredients"] == "celecoxib")
    assert "CELEBREX (Celecoxib)" in celecoxib["names"] and celecoxib["labels"] >= 4


def test_labels_by_ingredient_by_name_moiety_or_unii(sample_db):
    rows = _report(sample_db, "labels_by_ingredient", {"ingredient": "Celecoxib"})
    expected = {
        s
        for (s,) in _rows(
            sample_db,
            "SELECT DISTINCT d.set_id FROM latest_documents d JOIN ingredients i "
            "USING (document_id) WHERE i.role = 'active' AND lower(i.name) = 'celecoxib'",
        )
    }
    assert {r["set_id"] for r in rows} == expected and len(expected) >= 4
    assert rows[0]["set_id"] == CELEBREX_SET and rows[0]["reference"] is True
    assert rows[0]["application_numbers"] == "NDA020998"
    assert all(r["marketing_category"] == "ANDA" for r in rows[1:])
    by_unii = _report(sample_db, "labels_by_ingredient", {"unii": "jcx84q7j1l"})
    assert by_unii == rows
    # The moiety finds the salts: atorvastatin calcium trihydrate labels by "atorvastatin".
    atorvastatin = _report(sample_db, "labels_by_ingredient", {"ingredient": "atorvastatin"})
    assert {r["set_id"] for r in atorvastatin} >= {LIPITOR_SET}
    assert _report(sample_db, "labels_by_ingredient", {"ingredient": "no such drug"}) == []


def test_labels_by_ingredient_without_a_parameter_is_one_line_error(sample_db):
    from adme.errors import AdmeError

    with pytest.raises(AdmeError, match="give --param ingredient=NAME or --param unii=CODE"):
        _report(sample_db, "labels_by_ingredient")


def test_reference_vs_generics_counts_generic_paragraphs_not_in_reference(sample_db):
    rows = _report(sample_db, "reference_vs_generics", {"ingredient": "celecoxib"})
    rows = [r for r in rows if r["active_ingredients"] == "celecoxib"]
    reference = [r for r in rows if r["part"] == "reference"]
    generics = {r["set_id"]: r for r in rows if r["part"] == "generic"}
    assert {r["set_id"] for r in reference} == {CELEBREX_SET}
    adme = ("absorption", "distribution", "metabolism", "excretion")
    assert reference and all(r["rule_label"] in adme for r in reference)

    def hashes(set_id: str) -> list[str]:
        return [
            h
            for (h,) in _rows(
                sample_db,
                "SELECT p.text_hash FROM latest_documents d JOIN paragraphs p "
                "USING (document_id) WHERE d.set_id = ?",
                [set_id],
            )
        ]

    reference_hashes = set(hashes(CELEBREX_SET))
    assert len(generics) >= 3
    for set_id, row in generics.items():
        own = hashes(set_id)
        assert row["pk_paragraphs"] == len(own)
        assert row["not_in_reference"] == sum(h not in reference_hashes for h in own)
    for r in reference:
        text_hash = _rows(
            sample_db,
            "SELECT p.text_hash FROM latest_documents d JOIN paragraphs p USING (document_id) "
            "WHERE d.set_id = ? AND p.ordinal = ?",
            [CELEBREX_SET, r["ordinal"]],
        )[0][0]
        assert r["in_generics"] == sum(text_hash in hashes(s) for s in generics)
    ordered = [r["not_in_reference"] for r in rows if r["part"] == "generic"]
    assert ordered == sorted(ordered, reverse=True)


def test_reports_read_an_old_database_and_name_by_title_until_products_are_read(
    sample_db, tmp_path
):
    _as_before_products(sample_db)
    before = {r["set_id"]: r["display_name"] for r in _report(sample_db, "labels_by_drug")}
    assert before[LIPITOR_SET].startswith("LIPITOR ® (atorvastatin calcium)")
    assert _snapshot(sample_db)["predictions"]  # the read-only open kept every row
    fetch_from_path(sample_db, SAMPLE_SPL, tmp_path / "cache", progress=False)
    after = {r["set_id"]: r["display_name"] for r in _report(sample_db, "labels_by_drug")}
    assert after[LIPITOR_SET] == "Lipitor (atorvastatin calcium)"


def test_every_report_that_lists_labels_names_them(sample_db):
    from adme import reports, store
    from adme.errors import AdmeError

    checked = []
    for name in reports.report_names():
        declared = reports.declared_params(store.sql_text(name))
        params = {"ingredient": "celecoxib"} if "ingredient" in declared else {}
        try:
            columns, _ = reports.run_report(sample_db, name, params)
        except AdmeError as exc:
            assert "missing required parameter" in str(exc), name
            continue
        if "set_id" in columns:
            assert "display_name" in columns, name
            checked.append(name)
    assert {"labels_by_drug", "unlabelled", "review_queue", "disagreements"} <= set(checked)


# --- fetch --unii / --ndc against a DailyMed look-alike on 127.0.0.1 ---------------------------


@pytest.fixture(scope="module")
def dailymed():
    from tests.http_fixture_server import FixtureServer, label_from_file

    labels = [label_from_file(p) for p in sorted(SAMPLE_SPL.glob("*.xml"))]
    with FixtureServer(labels) as server:
        yield server


def _cli_fetch(server, tmp_path: Path, *args: str):
    from typer.testing import CliRunner

    from adme.cli import app

    db = tmp_path / "adme.duckdb"
    common = ["--db", str(db), "--cache", str(tmp_path / "cache"), "--no-progress"]
    result = CliRunner().invoke(
        app, ["fetch", *args, "--base-url", server.base_url, "--rate", "200", *common]
    )
    return result, db


def _sample_sets_with(predicate) -> set[str]:
    found = set()
    for path in SAMPLE_SPL.glob("*.xml"):
        document = parse_spl(path.read_bytes(), str(path))
        if any(predicate(p) for p in document.products):
            found.add(document.set_id)
    return found


def test_fetch_by_unii_sends_unii_code_and_stores_those_labels(dailymed, tmp_path):
    unii = "JCX84Q7J1L"  # celecoxib
    result, db = _cli_fetch(dailymed, tmp_path, "--unii", unii)
    assert result.exit_code == 0, result.output
    listings = [r for r in dailymed.requests if "spls.json" in r and f"unii_code={unii}" in r]
    assert listings, dailymed.requests
    expected = _sample_sets_with(lambda p: any(i.unii == unii for i in p.ingredients))
    stored = _rows(db, "SELECT DISTINCT set_id FROM documents")
    assert {s for (s,) in stored} == expected and len(expected) >= 4
    with_unii = _rows(
        db,
        "SELECT count(DISTINCT document_id) FROM ingredients WHERE unii = ? AND role = 'active'",
        [unii],
    )
    assert with_unii == [(len(stored),)]


def test_fetch_by_ndc_sends_ndc_and_stores_that_label(dailymed, tmp_path):
    result, db = _cli_fetch(dailymed, tmp_path, "--ndc", "0071-0155")
    assert result.exit_code == 0, result.output
    assert any("spls.json" in r and "ndc=0071-0155" in r for r in dailymed.requests)
    assert _rows(db, "SELECT set_id FROM documents") == [(LIPITOR_SET,)]
    codes = _rows(db, "SELECT ndc_product_codes FROM products WHERE product_ordinal = 1")
    assert codes == [(["0071-0155"],)]


def test_unii_with_from_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from adme.cli import app

    result = CliRunner().invoke(
        app, ["fetch", "--from", str(LIPITOR), "--unii", "X", "--db", str(tmp_path / "a.duckdb")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --from reads files on disk; it cannot be combined with --unii"
    ]
    assert not (tmp_path / "a.duckdb").exists()


# --- fetch --reparse ---------------------------------------------------------------------------


def test_reparse_reads_products_from_cache_file_or_zip_and_lists_the_rest(tmp_path):
    import zipfile

    from adme import cache
    from adme.reparse import reparse

    folder = tmp_path / "in"
    folder.mkdir()
    for path in (LIPITOR, HUMIRA, NOT_A_LABEL):
        shutil.copy(path, folder / path.name)
    with zipfile.ZipFile(folder / "release.zip", "w") as archive:
        archive.write(IBUPROFEN_SUSPENSION, IBUPROFEN_SUSPENSION.name)
    db = tmp_path / "adme.duckdb"
    fetch_from_path(db, folder, tmp_path / "cache", progress=False)
    expected = sorted(_rows(db, "SELECT * FROM ingredients"))
    _as_before_products(db)
    before = _snapshot(db)
    # LIPITOR: gone from disk but in the cache; HUMIRA: gone everywhere.
    cache.put(tmp_path / "cache", LIPITOR.read_bytes())
    (folder / LIPITOR.name).unlink()
    (folder / HUMIRA.name).unlink()

    summary = reparse(db, tmp_path / "cache")
    assert summary.filled == 3 and summary.failed == []
    humira_set = "608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert summary.missing == [(humira_set, str(folder / HUMIRA.name))]
    assert _snapshot(db) == before
    humira_doc = _rows(db, "SELECT document_id FROM documents WHERE set_id = ?", [humira_set])
    filled = [r for r in expected if r[0] != humira_doc[0][0]]
    assert sorted(_rows(db, "SELECT * FROM ingredients")) == filled
    assert _rows(db, "SELECT set_id FROM documents WHERE products_found IS NULL") == [(humira_set,)]

    again = reparse(db, tmp_path / "cache")
    assert again.filled == 0 and len(again.missing) == 1
    assert sorted(_rows(db, "SELECT * FROM ingredients")) == filled


def test_cli_reparse_lists_missing_xml_and_refuses_other_inputs(sample_db, tmp_path):
    from typer.testing import CliRunner

    from adme.cli import app

    runner = CliRunner()
    both = runner.invoke(app, ["fetch", "--reparse", "--drug", "x", "--db", str(sample_db)])
    assert both.exit_code == 1
    assert both.output.strip() == "error: --reparse reads stored documents only; drop --drug"
    nowhere = runner.invoke(app, ["fetch", "--reparse", "--db", str(tmp_path / "none.duckdb")])
    assert nowhere.exit_code == 1 and "database does not exist" in nowhere.output
    assert not (tmp_path / "none.duckdb").exists()

    _as_before_products(sample_db)
    con = duckdb.connect(str(sample_db))
    con.execute("UPDATE documents SET source = 'gone/' || source WHERE set_id = ?", [LIPITOR_SET])
    con.close()
    args = ["fetch", "--reparse", "--db", str(sample_db), "--cache", str(tmp_path / "c")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [x for x in lines if x.startswith("no XML: ")] == [
        f"no XML: {LIPITOR_SET} (gone/{LIPITOR})"
    ]
    total = _rows(sample_db, "SELECT count(*) FROM documents")[0][0]
    assert lines[-1] == (
        f"products read for {total - 1} stored documents; "
        "1 without XML in the cache or at their source, 0 that no longer parse"
    )
