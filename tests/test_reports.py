"""adme report: every SQL report against a real DuckDB file, its parameters and its exports."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from adme import reports, store
from adme.cli import app
from adme.errors import AdmeError
from tests import reporting_db

REPO_SQL = Path(__file__).resolve().parent.parent / "sql"
ALL_TABLES = ("documents", "paragraphs", "predictions", "runs", "metrics", "confusion")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """The hand-made database of tests/reporting_db.py (read-only use in this module)."""
    return reporting_db.build(tmp_path_factory.mktemp("reports") / "adme.duckdb")


def _paragraphs():
    """(paragraph_id, set_id, version, rule_label) of every stored paragraph, from the source."""
    return [
        (f"{d.document_id}/{p.ordinal}", d.set_id, d.version, p.rule_label)
        for d in reporting_db.documents()
        for p in d.paragraphs
    ]


def _latest_versions():
    latest: dict[str, int] = {}
    for d in reporting_db.documents():
        latest[d.set_id] = max(latest.get(d.set_id, 0), d.version)
    return latest


def _records(db, name, params=None):
    columns, rows = reports.run_report(db, name, params or {})
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _predictions(db):
    con = store.connect(db, read_only=True)
    try:
        return reporting_db.model_predictions(con)
    finally:
        con.close()


# --- discovery ----------------------------------------------------------------------------


def test_list_names_every_report_with_its_description_and_excludes_other_sql():
    listed = dict(reports.list_reports())
    on_disk = set(store.sql_names())
    required = {
        "class_balance",
        "labels_by_drug",
        "unlabelled",
        "disagreements",
        "review_queue",
        "adme_by_drug",
        "model_compare",
        "runs_summary",
    }
    assert required <= set(listed)
    assert "schema" not in listed
    for name in on_disk - set(listed):  # internal queries of other commands carry no marker
        assert reports.REPORT_MARKER not in reports.header_lines(store.sql_text(name))
    for name, text in listed.items():
        assert text and not text.startswith("-"), name
        assert store.sql_text(name).startswith(f"-- {text}")


def test_cli_list_prints_one_line_per_report():
    result = CliRunner().invoke(app, ["report", "--list"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == reports.report_names()
    by_name = {line.split()[0]: line for line in lines}
    assert by_name["model_compare"].endswith("[--param model_a (required), model_b (required)]")
    assert by_name["review_queue"].endswith("[--param threshold=0.6, model_id=null]")
    assert "[--param" not in by_name["class_balance"]


def test_model_compare_with_an_unknown_model_id_says_so_on_one_line(db):
    """Seen by a user: an unknown id gave a row of zeros instead of an error."""
    result = CliRunner().invoke(
        app,
        [
            "report",
            "model_compare",
            "--db",
            str(db),
            "-p",
            "model_a=nope@1",
            "-p",
            f"model_b={reporting_db.MODEL_B}",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: report model_compare: unknown model id nope@1; models with predictions: "
    )  # the report's own words, without DuckDB's "Invalid Input Error: " before them
    assert result.stderr.count("\n") == 1


def test_unknown_report_is_one_line_error_naming_the_available_ones(db):
    with pytest.raises(AdmeError, match="unknown report 'nope'; available: .*class_balance"):
        reports.run_report(db, "nope", {})
    for sneaky in ("schema", "../sql/schema", "queries/insert_predictions"):
        with pytest.raises(AdmeError, match="unknown report"):
            reports.run_report(db, sneaky, {})


# --- the reports --------------------------------------------------------------------------


def test_class_balance_counts_every_paragraph_with_unlabelled_and_shares(db):
    expected = Counter(label or "unlabelled" for *_, label in _paragraphs())
    rows = _records(db, "class_balance")
    assert {r["rule_label"]: r["paragraphs"] for r in rows} == dict(expected)
    assert sum(r["share_pct"] for r in rows) == pytest.approx(100, abs=0.5)
    counts = [r["paragraphs"] for r in rows]
    assert counts == sorted(counts, reverse=True)


def test_labels_by_drug_counts_the_latest_version_only(db):
    latest = _latest_versions()
    rows = {r["set_id"]: r for r in _records(db, "labels_by_drug")}
    assert set(rows) == set(latest)
    for set_id, version in latest.items():
        labels = [lab for _, s, v, lab in _paragraphs() if s == set_id and v == version]
        row = rows[set_id]
        assert row["version"] == version
        assert row["total"] == len(labels)
        assert row["unlabelled"] == labels.count(None)
        for cls in reporting_db.CLASSES:
            assert row[cls] == labels.count(cls), (set_id, cls)
    assert rows["set-nopk"]["total"] == 0  # a label with no 43682-4 still appears


def test_unlabelled_lists_exactly_the_paragraphs_without_rule_label(db):
    expected = {pid for pid, *_, label in _paragraphs() if label is None}
    rows = _records(db, "unlabelled")
    assert {r["paragraph_id"] for r in rows} == expected
    assert all(r["display_name"] and r["text_preview"] for r in rows)


def test_disagreements_most_confident_first_and_filtered_by_model(db):
    rules = {pid: label for pid, *_, label in _paragraphs()}
    expected = {
        (pid, model)
        for pid, model, label, _ in _predictions(db)
        if rules[pid] is not None and label != rules[pid]
    }
    rows = _records(db, "disagreements")
    assert {(r["paragraph_id"], r["model_id"]) for r in rows} == expected
    assert all(r["model_label"] != r["rule_label"] for r in rows)
    confidences = [r["confidence"] for r in rows]
    assert confidences == sorted(confidences, reverse=True)
    assert all(r["section_path"] and r["heading"] for r in rows)

    only_a = _records(db, "disagreements", {"model_id": reporting_db.MODEL_A})
    assert only_a and {r["model_id"] for r in only_a} == {reporting_db.MODEL_A}
    assert len(only_a) == sum(1 for _, m in expected if m == reporting_db.MODEL_A)


def test_review_queue_default_threshold_and_bound_parameter(db):
    rules = {pid: label for pid, *_, label in _paragraphs()}

    def expected(threshold):
        return {
            (pid, model)
            for pid, model, _, conf in _predictions(db)
            if rules[pid] is None and conf < threshold
        }

    default = _records(db, "review_queue")  # declared default: threshold = 0.6
    assert {(r["paragraph_id"], r["model_id"]) for r in default} == expected(0.6)
    strict = _records(db, "review_queue", {"threshold": "0.35"})
    assert {(r["paragraph_id"], r["model_id"]) for r in strict} == expected(0.35)
    assert 0 < len(strict) < len(default)
    confidences = [r["confidence"] for r in default]
    assert confidences == sorted(confidences)


def test_adme_by_drug_rule_rows_sum_labels_by_drug_per_ingredient_and_model_rows_cover_all(db):
    # These hand-made labels name no products: each is grouped under its display name.
    per_group: dict[str, Counter] = {}
    for r in _records(db, "labels_by_drug"):
        group = r["active_ingredients"] or r["display_name"]
        counts = per_group.setdefault(group, Counter())
        counts.update({k: r[k] for k in (*reporting_db.CLASSES, "unlabelled", "total")})
        counts["labels"] += 1
    rows = _records(db, "adme_by_drug")
    models = {r["labelled_by"] for r in rows} - {"rule"}
    assert models == {reporting_db.MODEL_A, reporting_db.MODEL_B}
    with_paragraphs = {g for g, c in per_group.items() if c["total"]}
    assert {r["active_ingredients"] for r in rows} == with_paragraphs
    for row in rows:
        expected = per_group[row["active_ingredients"]]
        assert (row["total"], row["labels"]) == (expected["total"], expected["labels"])
        if row["labelled_by"] == "rule":
            for cls in (*reporting_db.CLASSES, "unlabelled"):
                assert row[cls] == expected[cls]
        else:
            assert row["unlabelled"] == 0  # a model labels every paragraph


def test_model_compare_needs_both_models_and_counts_agreement(db):
    with pytest.raises(AdmeError, match="missing required parameter model_a"):
        reports.run_report(db, "model_compare", {"model_b": reporting_db.MODEL_B})
    rows = _records(
        db, "model_compare", {"model_a": reporting_db.MODEL_A, "model_b": reporting_db.MODEL_B}
    )
    by_model: dict[str, dict[str, str]] = {}
    for pid, model, label, _ in _predictions(db):
        by_model.setdefault(model, {})[pid] = label
    a, b = by_model[reporting_db.MODEL_A], by_model[reporting_db.MODEL_B]
    same = sum(a[p] == b[p] for p in a)
    overall = rows[-1]
    assert overall["class"] == "(all)" and overall["by_both"] == same
    assert overall["agreement_pct"] == pytest.approx(round(100 * same / len(a), 1))
    per_class = {r["class"]: r for r in rows[:-1]}
    for cls, row in per_class.items():
        assert row["by_a"] == sum(v == cls for v in a.values())
        assert row["by_b"] == sum(v == cls for v in b.values())
    assert per_class["metabolism"]["agreement_pct"] == 0  # B never says metabolism


def test_runs_summary_mean_and_standard_error_over_seeds(db):
    rows = {(r["split"], r["method"]): r for r in _records(db, "runs_summary")}
    groups: dict[tuple[str, str], list[float]] = {}
    for _, split, method, _, scores in reporting_db.RUNS:
        groups.setdefault((split, method), []).append(sum(scores) / len(scores))
    assert set(rows) == set(groups)
    for key, macros in groups.items():
        row = rows[key]
        assert row["seeds"] == len(macros)
        assert row["macro_f1"] == pytest.approx(sum(macros) / len(macros), abs=1e-4)
        if len(macros) > 1:
            mean = sum(macros) / len(macros)
            sd = math.sqrt(sum((m - mean) ** 2 for m in macros) / (len(macros) - 1))
            assert row["macro_f1_se"] == pytest.approx(sd / math.sqrt(len(macros)), abs=1e-4)
        else:
            assert row["macro_f1_se"] is None  # one seed: no spread to report


# --- parameters ---------------------------------------------------------------------------


def test_declared_params_and_typing():
    sql = "-- d\n-- kind: report\n-- param: threshold = 0.6\n-- param: model_a\nSELECT 1;"
    declared = reports.declared_params(sql)
    assert declared["threshold"] == "0.6" and declared["model_a"] is reports.REQUIRED
    assert reports.typed_value("3") == 3 and isinstance(reports.typed_value("3"), int)
    assert reports.typed_value("0.25") == 0.25
    assert reports.typed_value("NULL") is None
    assert reports.typed_value("tiny@abc") == "tiny@abc"


def test_text_params_that_look_like_numbers_stay_text(db):
    # a split named 2024 or a model id like 1 is text: bound as a number, DuckDB would cast
    # the VARCHAR column to INTEGER and fail on every other row
    sql = reports.report_sql("review_queue")
    assert reports.typed_params(sql, {"threshold": "0.7", "model_id": "1"}) == {
        "threshold": 0.7,
        "model_id": "1",
    }
    assert reports.typed_params(sql, {"model_id": "null"}) == {"model_id": None}
    assert reports.run_report(db, "plot_split_balance", {"split": "2024"})[1] == []
    with pytest.raises(AdmeError, match="unknown model id 1; models with predictions: "):
        reports.run_report(db, "model_compare", {"model_a": "1", "model_b": "2"})


def test_bad_params_are_one_line_errors(db):
    with pytest.raises(AdmeError, match="unknown parameter colour .*takes: threshold, model_id"):
        reports.run_report(db, "review_queue", {"colour": "red"})
    with pytest.raises(AdmeError, match="takes: no parameters"):
        reports.run_report(db, "class_balance", {"threshold": "1"})
    with pytest.raises(AdmeError, match="expected KEY=VALUE"):
        reports.parse_param_pairs(["threshold"])
    with pytest.raises(AdmeError, match="review_queue: Conversion Error"):
        reports.run_report(db, "review_queue", {"threshold": "high"})
    assert reports.parse_param_pairs(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}


def test_param_values_are_bound_not_pasted(db):
    # A value full of SQL is compared as a string; nothing is dropped or run.
    evil = "x' OR 1=1; DROP TABLE paragraphs; --"
    assert _records(db, "disagreements", {"model_id": evil}) == []
    assert len(reporting_db.table_rows(db, "paragraphs")) == len(_paragraphs())


# --- the same files in the duckdb CLI -----------------------------------------------------


def test_reports_without_parameters_run_unchanged_in_plain_duckdb(db):
    plain = [n for n in reports.report_names() if not reports.declared_params(store.sql_text(n))]
    assert {"class_balance", "labels_by_drug", "unlabelled", "adme_by_drug"} <= set(plain)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name in plain:
            text = (REPO_SQL / f"{name}.sql").read_text()  # the file as the CLI runs it
            assert con.execute(text).fetchall() == reports.run_report(db, name, {})[1], name
    finally:
        con.close()


def test_parameterised_reports_run_as_their_header_says(db):
    """Each header documents `PREPARE q AS $(cat FILE) EXECUTE q(...)`; run exactly that."""
    values = {
        "threshold": "0.6",
        "model_id": f"'{reporting_db.MODEL_A}'",
        "model_a": f"'{reporting_db.MODEL_A}'",
        "model_b": f"'{reporting_db.MODEL_B}'",
        "run_id": "'run-v7'",
        "split": "'natural'",
        "runs": "'natural'",
        "ingredient": "'atorvastatin'",
        "unii": "NULL",
        "sweep": "'no-such-sweep'",
    }
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name in reports.report_names():
            text = store.sql_text(name)
            declared = reports.declared_params(text)
            if not declared:
                continue
            header = "\n".join(reports.header_lines(text))
            assert f"$(cat sql/{name}.sql) EXECUTE q(" in header, name
            args = ", ".join(f"{key} := {values[key]}" for key in declared)
            cli_rows = con.execute(f"PREPARE q AS {text} EXECUTE q({args});").fetchall()
            given = {k: values[k].strip("'") for k in declared if values[k] != "NULL"}
            assert cli_rows == reports.run_report(db, name, given)[1], name
            con.execute("DEALLOCATE q")
    finally:
        con.close()


# --- exports ------------------------------------------------------------------------------


def test_csv_and_json_round_trip(db):
    columns, rows = reports.run_report(db, "labels_by_drug", {})
    parsed = list(csv.reader(io.StringIO(reports.export_report(db, "labels_by_drug", fmt="csv"))))
    assert parsed[0] == columns
    assert [["" if v is None else str(v) for v in row] for row in rows] == parsed[1:]
    records = json.loads(reports.export_report(db, "labels_by_drug", fmt="json"))
    assert records == [dict(zip(columns, row, strict=True)) for row in rows]


def test_parquet_needs_output_and_keeps_types(db, tmp_path):
    with pytest.raises(AdmeError, match="give --output"):
        reports.export_report(db, "class_balance", fmt="parquet")
    out = tmp_path / "out" / "balance.parquet"
    message = reports.export_report(db, "class_balance", fmt="parquet", output=out)
    assert message.startswith("wrote 6 rows")
    table = pq.read_table(out)
    columns, rows = reports.run_report(db, "class_balance", {})
    assert table.column_names == columns
    assert [tuple(r.values()) for r in table.to_pylist()] == rows
    assert str(table.schema.field("paragraphs").type) == "int64"


def test_table_format_and_output_rules(db, tmp_path):
    table = reports.export_report(db, "class_balance")
    assert table.row_count == len(reports.run_report(db, "class_balance", {})[1])
    assert "class_balance" in table.title
    with pytest.raises(AdmeError, match="--output needs --format"):
        reports.export_report(db, "class_balance", fmt="table", output=tmp_path / "x.txt")
    with pytest.raises(AdmeError, match="--format xml: expected one of"):
        reports.export_report(db, "class_balance", fmt="xml")


# --- CLI: one-line errors, nothing stored changes ----------------------------------------


def test_cli_report_prints_and_exports(db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["report", "review_queue", "--db", str(db), "--param", "threshold=0.35", "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("model_id,paragraph_id")
    assert len(lines) - 1 == len(reports.run_report(db, "review_queue", {"threshold": "0.35"})[1])
    out = tmp_path / "q.json"
    result = runner.invoke(app, ["report", "unlabelled", "--db", str(db), "-f", "json", "-o", out])
    assert result.exit_code == 0 and re.match(r"wrote \d+ rows of unlabelled", result.output)
    assert len(json.loads(out.read_text())) == len(reports.run_report(db, "unlabelled", {})[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nope"], "error: unknown report 'nope'; available:"),
        (["report", "model_compare"], "error: report model_compare: missing required parameter"),
        (["report", "review_queue", "-p", "threshold"], "error: --param 'threshold': expected"),
        (["report", "class_balance", "-f", "parquet"], "error: --format parquet writes"),
        (["report", "class_balance", "-f", "xml"], "error: --format xml: expected one of"),
        (["report"], "error: give a report NAME, or --list"),
    ],
)
def test_cli_errors_are_one_line_and_leave_rows_unchanged(db, args, message):
    """Each of these is a wrong command line: one line, exit 2 (README, "Exit codes")."""
    before = {t: reporting_db.table_rows(db, t) for t in ALL_TABLES}
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert {t: reporting_db.table_rows(db, t) for t in ALL_TABLES} == before


def test_database_locked_by_another_process_is_one_line_error(tmp_path):
    db = reporting_db.build(tmp_path / "adme.duckdb", predictions=False, runs=False)
    before = reporting_db.table_rows(db, "paragraphs")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = CliRunner().invoke(app, ["report", "class_balance", "--db", str(db)])
        assert result.exit_code == 1
        assert result.output.strip() == f"error: {db}: database is locked by another process"
    finally:
        holder.kill()
        holder.wait()
    assert reporting_db.table_rows(db, "paragraphs") == before


def test_missing_database_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["report", "class_balance", "--db", tmp_path / "none.duckdb"])
    assert result.exit_code == 1
    assert "database does not exist" in result.output
    assert not (tmp_path / "none.duckdb").exists()  # a report never creates a database


# --- the shipped sample of real labels ----------------------------------------------------


def test_reports_on_the_real_sample_database(sample_db_template):
    db = sample_db_template  # read-only use: reports never write
    con = duckdb.connect(str(db), read_only=True)
    try:
        total, latest_sets = con.execute(
            "SELECT (SELECT count(*) FROM paragraphs), (SELECT count(*) FROM latest_documents)"
        ).fetchone()
        unlabelled = con.execute(
            "SELECT count(*) FROM paragraphs WHERE rule_label IS NULL"
        ).fetchone()[0]
    finally:
        con.close()
    assert total > 100
    balance = _records(db, "class_balance")
    assert sum(r["paragraphs"] for r in balance) == total
    assert {r["rule_label"] for r in balance} <= {*reporting_db.CLASSES, "unlabelled"}
    assert len(_records(db, "labels_by_drug")) == latest_sets
    assert len(_records(db, "unlabelled")) == unlabelled
    rule_rows = [r for r in _records(db, "adme_by_drug") if r["labelled_by"] == "rule"]
    assert sum(r["total"] for r in rule_rows) <= total
    assert _records(db, "disagreements") == []  # nothing labelled by a model yet
