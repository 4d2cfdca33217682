"""Run the SQL reports in `sql/*.sql` and export their rows as a table, CSV, JSON or Parquet.

A report is a plain SQL file that also runs in the `duckdb` CLI. Its header (the comment
lines before the SQL) starts with a `-- one-line description`, holds the line `-- kind: report`
(sql/ also holds the schema, which is not a report; internal queries of other commands live
in sql/queries/),
and declares parameters as `-- param: NAME = DEFAULT` (or `-- param: NAME` when there is no
default). Parameters are written `$NAME` in the query and bound as DuckDB named parameters,
never pasted into the SQL text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from rich.table import Table

from adme import store
from adme.errors import AdmeError, UsageError, first_line
from adme.wording import count

FORMATS = ("table", "csv", "json", "parquet")
TERMINAL_TEXT_WIDTH = 40  # characters of a text cell shown in the terminal table
NOT_REPORTS = frozenset({"schema"})
REPORT_MARKER = "-- kind: report"
REQUIRED = object()  # default of a parameter the user must give

_NAME = re.compile(r"^[a-z0-9_]+$")
_PARAM_LINE = re.compile(
    r"^--\s*param:\s*(?P<name>[a-z_][a-z0-9_]*)\s*(?:=\s*(?P<default>.*?))?\s*$"
)


def header_lines(sql: str) -> list[str]:
    """The comment lines at the top of a SQL file, before its first statement."""
    lines = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped)
        elif stripped:
            break
    return lines


def is_report(name: str) -> bool:
    """Whether `sql/NAME.sql` is a report (its header says `-- kind: report`)."""
    return name not in NOT_REPORTS and REPORT_MARKER in header_lines(store.sql_text(name))


def report_names() -> list[str]:
    """Names of every report in sql/, sorted."""
    return [name for name in store.sql_names() if is_report(name)]


def description(sql: str) -> str:
    """The report's one-line description: its first comment line, without the `--`."""
    first = sql.lstrip().splitlines()[0] if sql.strip() else ""
    return first[2:].strip() if first.startswith("--") else ""


def list_reports() -> list[tuple[str, str]]:
    """(name, description) of every report, for `adme report --list`."""
    return [(name, description(store.sql_text(name))) for name in report_names()]


def report_sql(name: str) -> str:
    """The SQL text of report NAME; an unknown name is an error listing the available ones."""
    if not _NAME.match(name) or name not in report_names():
        raise UsageError(f"unknown report {name!r}; available: {', '.join(report_names())}")
    return store.sql_text(name)


def declared_params(sql: str) -> dict[str, Any]:
    """Parameters declared in the header comments: name -> default text, or REQUIRED."""
    params: dict[str, Any] = {}
    for line in header_lines(sql):
        match = _PARAM_LINE.match(line)
        if match:
            default = match.group("default")
            params[match.group("name")] = REQUIRED if default in (None, "") else default
    return params


def param_summary(sql: str) -> str:
    """A report's parameters for `adme report --list`: `name=default`, or `name (required)`."""
    parts = [
        f"{name} (required)" if default is REQUIRED else f"{name}={default}"
        for name, default in declared_params(sql).items()
    ]
    return f"[--param {', '.join(parts)}]" if parts else ""


def typed_value(text: str) -> int | float | str | None:
    """Type a parameter given as text: integers and decimals as numbers, `null` as NULL."""
    if text.strip().lower() == "null":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def typed_params(sql: str, given: Mapping[str, str]) -> dict[str, Any]:
    """Type command-line parameter text by what the report declares.

    `null` is NULL everywhere; the text becomes a number only where the parameter's declared
    default is a number (`threshold = 0.6`). Parameters with a text, NULL or no default stay
    text, so a split named `2024` or a model id like `1` is compared as the text it is.
    """
    declared = declared_params(sql)
    typed: dict[str, Any] = {}
    for key, text in given.items():
        default = declared.get(key, REQUIRED)
        value = typed_value(text)
        numeric = default is not REQUIRED and isinstance(typed_value(default), int | float)
        typed[key] = value if value is None or numeric else text
    return typed


def parse_param_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Turn `key=value` strings (the CLI's repeated --param) into a dict."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        params[key.strip()] = value.strip()
    return params


def bind_values(name: str, sql: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Values for every declared parameter: the given ones, and typed defaults for the rest.

    A missing required parameter, or one the report does not take, is a one-line error.
    """
    declared = declared_params(sql)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        takes = ", ".join(declared) or "no parameters"
        listed = ", ".join(unknown)
        raise UsageError(f"report {name}: unknown parameter {listed} (it takes: {takes})")
    bound: dict[str, Any] = {}
    for key, default in declared.items():
        if key in given:
            bound[key] = given[key]
        elif default is REQUIRED:
            raise UsageError(f"report {name}: missing required parameter {key} (--param {key}=...)")
        else:
            bound[key] = typed_value(default)
    return bound


def report_error(name: str, exc: duckdb.Error) -> AdmeError:
    """A report's failure as one line; a report's own `error('...')` reads as its words alone.

    DuckDB prefixes what SQL's error() raises with "Invalid Input Error: "; the report wrote the
    message for the user (model_compare: "unknown model id ..."), so the prefix is dropped.
    """
    text = first_line(exc)
    if isinstance(exc, duckdb.InvalidInputException):
        text = text.removeprefix("Invalid Input Error: ")
    return AdmeError(f"report {name}: {text}")


def _execute(con: duckdb.DuckDBPyConnection, name: str, sql: str, bound: dict[str, Any]):
    try:
        return con.execute(sql, bound) if bound else con.execute(sql)
    except duckdb.Error as exc:
        raise report_error(name, exc) from exc


def run_query(
    db_path: str | Path, name: str, values: Mapping[str, Any] | None = None
) -> tuple[list[str], list[tuple]]:
    """Run `sql/NAME.sql` with Python values bound to its `$` parameters (defaults filled in).

    For library callers (plots, serve) that already hold typed values; also runs internal
    queries that are not reports. Read-only: it never creates a database or changes rows (one
    written by an older adme gains the current schema first: store.connect).
    """
    sql = store.sql_text(name)
    bound = bind_values(name, sql, values or {})
    con = store.connect(db_path, read_only=True)
    try:
        cursor = _execute(con, name, sql, bound)
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    finally:
        con.close()


def run_report(
    db_path: str | Path, name: str, params: Mapping[str, str] | None = None
) -> tuple[list[str], list[tuple]]:
    """Run report NAME on a read-only connection; return its column names and rows.

    PARAMS are text (as typed on the command line) and are typed by `typed_params`.
    """
    sql = report_sql(name)  # unknown names fail here, listing the reports
    return run_query(db_path, name, typed_params(sql, params or {}))


def report_arrow(
    db_path: str | Path, name: str, params: Mapping[str, str] | None = None
) -> pa.Table:
    """Run report NAME and return its rows as an Arrow table (column types kept, for Parquet)."""
    sql = report_sql(name)
    bound = bind_values(name, sql, typed_params(sql, params or {}))
    con = store.connect(db_path, read_only=True)
    try:
        try:
            return con.sql(sql, params=bound or None).to_arrow_table()
        except duckdb.Error as exc:
            raise report_error(name, exc) from exc
    finally:
        con.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rich_table(name: str, columns: Sequence[str], rows: Sequence[tuple]) -> Table:
    """A rich table for the terminal, titled with the report name and row count.

    Long text (SPL titles hold whole highlight statements) is cut with an ellipsis so rows stay
    one line each; csv, json and parquet keep every character.
    """
    table = Table(title=f"{name} ({count(len(rows), 'row')})")
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=TERMINAL_TEXT_WIDTH)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def csv_text(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """Rows as CSV with a header line; NULL becomes an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def json_text(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """Rows as a JSON array of objects; dates and decimals become strings."""
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    return json.dumps(records, indent=2, default=str) + "\n"


def _check_format(fmt: str, output: str | Path | None) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise UsageError("--format parquet writes a binary file: give --output FILE.parquet")
    if fmt == "table" and output is not None:
        raise UsageError("--output needs --format csv, json or parquet (table is for the terminal)")


def _render(
    name: str,
    rows_of: Callable[[], tuple[list[str], list[tuple]]],
    arrow_of: Callable[[], pa.Table],
    fmt: str,
    output: str | Path | None,
) -> Table | str:
    """Render a query's result as `export_report` describes; run only what the format needs."""
    _check_format(fmt, output)
    if fmt == "parquet":
        arrow = arrow_of()
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow, path)
        return f"wrote {count(arrow.num_rows, 'row')} of {name} to {path}"
    columns, rows = rows_of()
    if fmt == "table":
        return rich_table(name, columns, rows)
    text = csv_text(columns, rows) if fmt == "csv" else json_text(columns, rows)
    if output is None:
        return text
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"wrote {count(len(rows), 'row')} of {name} to {path}"


def export_report(
    db_path: str | Path,
    name: str,
    params: Mapping[str, str] | None = None,
    fmt: str = "table",
    output: str | Path | None = None,
) -> Table | str:
    """Run report NAME and render it: a rich Table, or CSV/JSON text, or write it to OUTPUT.

    With OUTPUT the file is written and a one-line summary returned. Parquet needs OUTPUT
    (it is binary); the table format is for the terminal only.
    """
    return _render(
        name,
        lambda: run_report(db_path, name, params),
        lambda: report_arrow(db_path, name, params),
        fmt,
        output,
    )


# ---------------------------------------------------------------------------------------------
# adme sql: any SQL file or query, through the same engine


def sql_argument(text: str) -> tuple[str, str]:
    """(name shown, SQL) for `adme sql FILE|QUERY`: an existing file's text, else the query.

    A word ending in `.sql` that names no file is an error rather than SQL DuckDB would
    reject with a parser message.
    """
    path = Path(text)
    if "\n" not in text and len(text) < 4096 and path.is_file():
        try:
            return path.name, path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise AdmeError(f"{path}: cannot read the SQL file: {exc}") from exc
    if text.strip().lower().endswith(".sql") and len(text.split()) == 1:
        raise AdmeError(f"{text}: no such SQL file")
    if not text.strip():
        raise UsageError("give a SQL FILE or a QUERY")
    return "query", text


def sql_values(name: str, sql: str, given: Mapping[str, str]) -> dict[str, Any]:
    """Values bound to the `$NAME`s of a SQL text.

    A file declaring `-- param:` lines (every report) takes them as `adme report` does:
    defaults filled in, unknown or missing ones refused. Otherwise each value is bound as
    text (`null` as NULL), which DuckDB casts where it is compared with a column.
    """
    if declared_params(sql):
        return bind_values(name, sql, typed_params(sql, given))
    return {key: None if text.strip().lower() == "null" else text for key, text in given.items()}


_READ_ONLY_HINT = "(adme sql opens the database read-only; add --write to change it)"


def _connect_for_sql(db_path: str | Path, write: bool) -> duckdb.DuckDBPyConnection:
    if write and not Path(db_path).exists():
        raise AdmeError(f"{db_path}: database does not exist (run `adme fetch` first)")
    return store.connect(db_path, read_only=not write)


def _sql_error(name: str, exc: duckdb.Error) -> AdmeError:
    message = f"{name}: {first_line(exc)}"
    if "read-only" in message:
        message = f"{message} {_READ_ONLY_HINT}"
    return AdmeError(message)


def run_sql(
    db_path: str | Path, name: str, sql: str, values: Mapping[str, Any], write: bool = False
) -> tuple[list[str], list[tuple]]:
    """Run SQL (one or more statements) and return the last statement's columns and rows.

    Read-only unless `write`: nothing stored changes by accident.
    """
    con = _connect_for_sql(db_path, write)
    try:
        try:
            cursor = con.execute(sql, dict(values)) if values else con.execute(sql)
            if cursor.description is None:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchall()
        except duckdb.Error as exc:
            raise _sql_error(name, exc) from exc
    finally:
        con.close()


def sql_arrow(
    db_path: str | Path, name: str, sql: str, values: Mapping[str, Any], write: bool = False
) -> pa.Table:
    """Run SQL and return the last statement's rows as an Arrow table (types kept)."""
    con = _connect_for_sql(db_path, write)
    try:
        try:
            relation = con.sql(sql, params=dict(values) or None)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise _sql_error(name, exc) from exc
    finally:
        con.close()


def export_sql(
    db_path: str | Path,
    query_or_file: str,
    params: Mapping[str, str] | None = None,
    fmt: str = "table",
    output: str | Path | None = None,
    write: bool = False,
) -> Table | str:
    """`adme sql`: run a SQL file or query on the database and render it as reports are."""
    name, sql = sql_argument(query_or_file)
    values = sql_values(name, sql, params or {})
    return _render(
        name,
        lambda: run_sql(db_path, name, sql, values, write),
        lambda: sql_arrow(db_path, name, sql, values, write),
        fmt,
        output,
    )
