"""adme sql: any SQL file or query through adme's own DuckDB, read-only unless --write."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from adme import reports
from adme.cli import app
from tests import reporting_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """The hand-made database of tests/reporting_db.py; only test_write_... changes its copy."""
    return reporting_db.build(tmp_path_factory.mktemp("sql") / "adme.duckdb")


def _sql(*args: str):
    return CliRunner().invoke(app, ["sql", *args])


def readme_sql_examples() -> list[list[str]]:
    """Every `adme sql ...` line of the README's bash blocks, as argv after `adme`."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("adme sql ")]


def test_readme_examples_run_on_a_fresh_database(db, monkeypatch):
    examples = readme_sql_examples()
    assert len(examples) >= 2  # the README shows a file and a query
    monkeypatch.chdir(ROOT)  # the examples name sql/ files relative to a checkout
    for argv in examples:
        result = CliRunner().invoke(app, [*argv, "--db", str(db)])
        assert result.exit_code == 0, (argv, result.output)
        assert result.output.strip(), argv


def test_a_report_file_gives_the_rows_adme_report_gives(db):
    result = _sql(str(ROOT / "sql" / "class_balance.sql"), "--db", str(db), "-f", "json")
    assert result.exit_code == 0, result.output
    columns, rows = reports.run_report(db, "class_balance", {})
    assert json.loads(result.output) == [dict(zip(columns, r, strict=True)) for r in rows]
    # a report file's declared parameters and defaults apply, as in adme report
    queue = str(ROOT / "sql" / "review_queue.sql")
    result = _sql(queue, "--db", str(db), "-p", "threshold=0.35", "-f", "csv")
    assert result.exit_code == 0, result.output
    expected = reports.run_report(db, "review_queue", {"threshold": "0.35"})[1]
    assert len(result.output.strip().splitlines()) - 1 == len(expected) > 0


def test_a_query_with_parameters_and_several_statements(db, tmp_path):
    query = (
        "SELECT count(*) AS n FROM paragraphs; "
        "SELECT rule_label, count(*) AS n FROM paragraphs WHERE rule_label = $label GROUP BY 1"
    )
    result = _sql(query, "--db", str(db), "-p", "label=absorption", "-f", "csv")
    assert result.exit_code == 0, result.output
    stored = [r for r in reporting_db.table_rows(db, "paragraphs") if "absorption" in r]
    assert result.output.splitlines()[0] == "rule_label,n"
    assert result.output.splitlines()[1].startswith("absorption,")
    assert len(stored) >= int(result.output.splitlines()[1].split(",")[1]) > 0
    out = tmp_path / "kinds.parquet"
    query = "SELECT kind, count(*) AS n FROM paragraphs GROUP BY kind"
    result = _sql(query, "--db", str(db), "-f", "parquet", "-o", str(out))
    assert result.exit_code == 0 and result.output.startswith("wrote ")
    assert pq.read_table(out).column_names == ["kind", "n"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["DELETE FROM paragraphs"], 1, "add --write to change it"),
        (["no_such_file.sql"], 1, "error: no_such_file.sql: no such SQL file"),
        (["SELEC 1"], 1, "error: query: Parser Error"),
        (["SELECT * FROM no_such_table"], 1, "error: query: Catalog Error"),
        (["SELECT 1", "-f", "xml"], 2, "error: --format xml: expected one of"),  # usage: exit 2
    ],
)
def test_bad_sql_is_one_line_and_no_row_changes(db, argv, code, message):
    before = reporting_db.table_rows(db, "paragraphs")
    result = _sql(*argv, "--db", str(db))
    assert result.exit_code == code
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert reporting_db.table_rows(db, "paragraphs") == before


def test_write_changes_the_database_only_when_asked(tmp_path):
    db = reporting_db.build(tmp_path / "adme.duckdb", predictions=False, runs=False)
    query = "CREATE TABLE notes AS SELECT 1 AS n"
    assert _sql(query, "--db", str(db)).exit_code == 1
    result = _sql(query, "--db", str(db), "--write")
    assert result.exit_code == 0, result.output
    assert _sql("SELECT n FROM notes", "--db", str(db), "-f", "csv").output == "n\n1\n"
    missing = tmp_path / "none.duckdb"
    result = _sql("SELECT 1", "--db", str(missing), "--write")
    assert result.exit_code == 1 and "database does not exist" in result.output
    assert not missing.exists()  # adme sql never creates a database
