"""The DuckDB file: schema, idempotent bulk writes, and the few queries the code needs.

Every other module talks to the database through here (reports go through reports.py), so
locking, schema and transactions are handled in one place.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb
import pyarrow as pa

from adme import products
from adme.errors import AdmeError, first_line
from adme.spl import Document

DEFAULT_DB = Path("data/adme.duckdb")
_CHECKOUT = Path(__file__).resolve().parent.parent


def sql_dir() -> Traversable:
    """The folder of SQL files: the checkout's top-level `sql/`, else the copy in the package.

    `sql/` stays at the top of the repository so the duckdb CLI runs its files as they are; the
    wheel ships the same files as `adme/sql` (pyproject.toml maps `sql/` there). A source
    checkout (editable install, PYTHONPATH) reads its own `sql/`, an installed wheel its copy.
    """
    checkout = _CHECKOUT / "sql"
    if (_CHECKOUT / "pyproject.toml").is_file() and (checkout / "schema.sql").is_file():
        return checkout
    return importlib.resources.files("adme") / "sql"


def _sql_path(name: str) -> Traversable:
    """The Traversable for `sql/NAME` (NAME may hold `/`: `queries/record_run`)."""
    path = sql_dir()
    for part in filter(None, name.split("/")):
        path = path / part
    return path


def sql_names(folder: str = "") -> list[str]:
    """Names (without `.sql`) of the SQL files in `sql/` or one of its subfolders, sorted."""
    base = _sql_path(folder)
    if not base.is_dir():
        return []
    return sorted(p.name[: -len(".sql")] for p in base.iterdir() if p.name.endswith(".sql"))


def sql_text(name: str) -> str:
    """Return the text of `sql/NAME.sql`, the one place SQL lives."""
    path = _sql_path(f"{name}.sql")
    if not path.is_file():
        raise AdmeError(f"no SQL file sql/{name}.sql (looked in {sql_dir()})")
    return path.read_text()


def connect(db_path: str | Path = DEFAULT_DB, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database and apply the schema.

    A file locked by another process, or one that is not a DuckDB database, becomes a one-line
    AdmeError instead of a traceback.
    """
    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise AdmeError(f"{db_path}: database does not exist (run `adme fetch` first)")
    if read_only:
        _upgrade_if_older(db_path)
    if not read_only:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder should be, no permission, ...
            raise AdmeError(
                f"{db_path}: cannot create its folder {db_path.parent}: {exc.strerror or exc}"
            ) from exc
    try:
        con = duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as exc:
        message = first_line(exc)
        if "lock" in message.lower():
            raise AdmeError(f"{db_path}: database is locked by another process") from exc
        raise AdmeError(f"{db_path}: cannot open database: {message}") from exc
    except duckdb.Error as exc:
        raise AdmeError(f"{db_path}: cannot open database: {first_line(exc)}") from exc
    if not read_only:
        con.execute(sql_text("schema"))
    return con


_SCHEMA_OBJECT = re.compile(
    r"^CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW|OR REPLACE MACRO) (\w+)", re.M
)
_SCHEMA_COLUMN = re.compile(r"^ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+)", re.M)
_up_to_date: set[str] = set()  # databases already checked by _upgrade_if_older


def _upgrade_if_older(db_path: Path) -> None:
    """Apply the schema to a database written by an older adme before reading it, so reports
    find the tables, views, macros and added columns they name; when another process holds
    it, read it as it is."""
    key = str(db_path.resolve())
    if key in _up_to_date:  # checked once per process: serve opens a connection per request
        return
    schema = sql_text("schema")
    wanted = set(_SCHEMA_OBJECT.findall(schema)) | {
        f"{table}.{column}" for table, column in _SCHEMA_COLUMN.findall(schema)
    }
    try:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            have |= {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
            have |= {
                r[0]
                for r in con.execute(
                    "SELECT function_name FROM duckdb_functions() "
                    "WHERE function_type IN ('macro', 'table_macro') AND NOT internal"
                ).fetchall()
            }
            have |= {
                f"{table}.{column}"
                for table, column in con.execute(
                    "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal"
                ).fetchall()
            }
        finally:
            con.close()
        if not wanted <= have:
            con = duckdb.connect(str(db_path))
            try:
                con.execute(sql_text("schema"))
            finally:
                con.close()
        _up_to_date.add(key)
    except duckdb.Error:
        return  # locked or unreadable: connect() below says why, in one line


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with transaction(con):` BEGIN, then COMMIT, or ROLLBACK on any exception (re-raised).

    BaseException included, so Ctrl-C or a failed COMMIT leaves no half-written rows; the one
    place the BEGIN / COMMIT / ROLLBACK sequence is spelled out.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            # A failed COMMIT has already ended the transaction, so ROLLBACK fails too; the
            # error worth seeing is the one that got us here, not "no transaction is active".
            exc.add_note(f"ROLLBACK also failed: {first_line(rollback_error)}")
        raise


def text_hash(text: str) -> str:
    """Key under which identical paragraph texts (generics, label versions) are grouped."""
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()


_DOCUMENT_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("set_id", pa.string()),
        ("version", pa.int32()),
        ("effective_date", pa.date32()),
        ("title", pa.string()),
        ("doc_type", pa.string()),
        ("source", pa.string()),
        ("sha256", pa.string()),
        ("pk_found", pa.string()),
        ("products_found", pa.int32()),
        ("sections_found", pa.int32()),
    ]
)
_PARAGRAPH_SCHEMA = pa.schema(
    [
        ("paragraph_id", pa.string()),
        ("document_id", pa.string()),
        ("set_id", pa.string()),
        ("version", pa.int32()),
        ("ordinal", pa.int32()),
        ("section_path", pa.string()),
        ("heading", pa.string()),
        ("text", pa.string()),
        ("text_hash", pa.string()),
        ("kind", pa.string()),
        ("rule_label", pa.string()),
        ("rule_reason", pa.string()),
    ]
)


def _document_table(documents: Sequence[Document]) -> pa.Table:
    # Built column by column: much cheaper than a list of row dicts (`Table.from_pylist`).
    names = [n for n in _DOCUMENT_SCHEMA.names if n not in ("products_found", "sections_found")]
    columns = {name: [getattr(d, name) for d in documents] for name in names}
    columns["products_found"] = [len(d.products) for d in documents]
    columns["sections_found"] = [None if d.sections is None else len(d.sections) for d in documents]
    return pa.Table.from_pydict(columns, schema=_DOCUMENT_SCHEMA)


_SECTION_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("ordinal", pa.int32()),
        ("code", pa.string()),
        ("title", pa.string()),
        ("section_path", pa.string()),
        ("text", pa.string()),
        ("pharmacokinetics", pa.bool_()),
    ]
)


def _section_table(documents: Sequence[Document]) -> pa.Table:
    rows = [(d.document_id, s) for d in documents for s in d.sections or ()]
    columns = {"document_id": [document_id for document_id, _ in rows]}
    for name in _SECTION_SCHEMA.names[1:]:
        columns[name] = [getattr(s, name) for _, s in rows]
    return pa.Table.from_pydict(columns, schema=_SECTION_SCHEMA)


def _insert_sections(con: duckdb.DuckDBPyConnection, documents: Sequence[Document]) -> None:
    """Append the `sections` rows of documents (inside the caller's transaction)."""
    table = _section_table(documents)
    if table.num_rows:
        con.register("incoming_sections", table)
        try:
            con.execute("INSERT INTO sections BY NAME SELECT * FROM incoming_sections")
        finally:
            con.unregister("incoming_sections")


def _paragraph_table(documents: Sequence[Document]) -> pa.Table:
    rows = [(d, p) for d in documents for p in d.paragraphs]
    columns = {
        "paragraph_id": [f"{d.document_id}/{p.ordinal}" for d, p in rows],
        "document_id": [d.document_id for d, _ in rows],
        "set_id": [d.set_id for d, _ in rows],
        "version": [d.version for d, _ in rows],
        "ordinal": [p.ordinal for _, p in rows],
        "section_path": [p.section_path for _, p in rows],
        "heading": [p.heading for _, p in rows],
        "text": [p.text for _, p in rows],
        "text_hash": [text_hash(p.text) for _, p in rows],
        "kind": [p.kind for _, p in rows],
        "rule_label": [p.rule_label for _, p in rows],
        "rule_reason": [p.rule_reason for _, p in rows],
    }
    return pa.Table.from_pydict(columns, schema=_PARAGRAPH_SCHEMA)


def _first_of_each(documents: Sequence[Document]) -> list[Document]:
    """The documents in order, less any whose document_id or (set_id, version) came before."""
    seen_ids: set[str] = set()
    seen_versions: set[tuple[str, int]] = set()
    kept = []
    for document in documents:
        version = (document.set_id, document.version)
        if document.document_id in seen_ids or version in seen_versions:
            continue
        seen_ids.add(document.document_id)
        seen_versions.add(version)
        kept.append(document)
    return kept


def write_documents(con: duckdb.DuckDBPyConnection, documents: Sequence[Document]) -> int:
    """Store documents with their paragraphs in one transaction; return paragraphs added.

    Documents already stored (same document_id, or same set_id and version) are left as they
    are, so writing a batch twice changes nothing, and a kill mid-batch leaves no half document.
    Within the batch too, only the first document with a given document_id, or a given set_id
    and version, is kept.
    """
    if not documents:
        return 0
    unique = _first_of_each(documents)
    doc_table = _document_table(unique)
    par_table = _paragraph_table(unique)
    try:
        with transaction(con):
            con.register("incoming_documents", doc_table)
            con.register("incoming_paragraphs", par_table)
            new_ids = [
                r[0]
                for r in con.execute(
                    """
                    SELECT i.document_id FROM incoming_documents i
                    WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.document_id = i.document_id)
                      AND NOT EXISTS (SELECT 1 FROM documents d
                                      WHERE d.set_id = i.set_id AND d.version = i.version)
                    """
                ).fetchall()
            ]
            added = 0
            if new_ids:
                con.register("new_ids", pa.table({"document_id": new_ids}))
                con.execute(
                    "INSERT INTO documents BY NAME SELECT * FROM incoming_documents "
                    "WHERE document_id IN (SELECT document_id FROM new_ids)"
                )
                added = con.execute(
                    "INSERT INTO paragraphs BY NAME "
                    "SELECT *, heading_only(text, kind) AS bare_heading FROM incoming_paragraphs "
                    "WHERE document_id IN (SELECT document_id FROM new_ids)"
                ).fetchone()[0]
                con.unregister("new_ids")
                new = set(new_ids)
                _insert_products(con, [d for d in unique if d.document_id in new])
                _insert_sections(con, [d for d in unique if d.document_id in new])
    finally:
        con.unregister("incoming_documents")
        con.unregister("incoming_paragraphs")
    return int(added)


def _insert_products(con: duckdb.DuckDBPyConnection, documents: Sequence[Document]) -> None:
    """Append the `products` and `ingredients` rows of documents (inside the caller's BEGIN)."""
    tables = (
        ("products", products.product_table(documents)),
        ("ingredients", products.ingredient_table(documents)),
    )
    for name, table in tables:
        if table.num_rows:
            con.register("incoming_rows", table)
            try:
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM incoming_rows")
            finally:
                con.unregister("incoming_rows")


def fill_products(con: duckdb.DuckDBPyConnection, documents: Sequence[Document]) -> int:
    """Store the products of documents stored before adme read products; return how many
    documents were filled in.

    Only documents whose `products_found` is NULL are touched (their paragraphs, predictions
    and other columns stay as they are), so running it twice changes nothing.
    """
    return _fill_missing(
        con,
        documents,
        "products_found",
        ("ingredients", "products"),
        lambda d: len(d.products),
        _insert_products,
    )


def fill_sections(con: duckdb.DuckDBPyConnection, documents: Sequence[Document]) -> int:
    """Store the sections of documents stored without them; return how many.

    Only documents whose `sections_found` is NULL are touched (their paragraphs, predictions
    and other rows stay as they are), so running it twice changes nothing. Documents parsed
    without their sections (`sections` None) are passed over.
    """
    documents = [d for d in documents if d.sections is not None]
    return _fill_missing(
        con,
        documents,
        "sections_found",
        ("sections",),
        lambda d: len(d.sections),
        _insert_sections,
    )


def _fill_missing(
    con: duckdb.DuckDBPyConnection,
    documents: Sequence[Document],
    found_column: str,
    tables: Sequence[str],
    found: Callable[[Document], int],
    insert: Callable[[duckdb.DuckDBPyConnection, list[Document]], None],
) -> int:
    """Rewrite `tables` for the documents whose `found_column` is NULL, then set it; one
    transaction, so a cut leaves either the old rows or the new ones."""
    if not documents:
        return 0
    unique = _first_of_each(documents)
    with transaction(con):
        con.register("fill_ids", pa.table({"document_id": [d.document_id for d in unique]}))
        try:
            todo = {
                r[0]
                for r in con.execute(
                    f"SELECT document_id FROM documents WHERE {found_column} IS NULL "
                    "AND document_id IN (SELECT document_id FROM fill_ids)"
                ).fetchall()
            }
        finally:
            con.unregister("fill_ids")
        chosen = [d for d in unique if d.document_id in todo]
        if not chosen:
            return 0
        counts = pa.table(
            {
                "document_id": [d.document_id for d in chosen],
                "n": pa.array([found(d) for d in chosen], pa.int32()),
            }
        )
        con.register("fill_counts", counts)
        try:
            for table in tables:
                con.execute(
                    f"DELETE FROM {table} "
                    "WHERE document_id IN (SELECT document_id FROM fill_counts)"
                )
            insert(con, chosen)
            con.execute(
                f"UPDATE documents SET {found_column} = c.n FROM fill_counts c "
                "WHERE documents.document_id = c.document_id"
            )
        finally:
            con.unregister("fill_counts")
    return len(chosen)


def record_rejects(con: duckdb.DuckDBPyConnection, rejects: Iterable[tuple[str, str]]) -> None:
    """Append (source, reason) rows to `rejects` so failures can be audited later."""
    rows = list(rejects)
    if rows:
        con.executemany("INSERT INTO rejects (source, reason) VALUES (?, ?)", rows)


def document_ids_by_hash(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """sha256 of raw XML -> document_id, so a re-fed file is skipped unparsed yet reported."""
    return dict(con.execute("SELECT sha256, document_id FROM documents").fetchall())


def documents_to_fill(
    con: duckdb.DuckDBPyConnection, sections: bool = True
) -> list[tuple[str, str, str, str]]:
    """(document_id, set_id, sha256, source) of the documents stored before adme read products,
    or (with `sections`) stored without their sections: an ingest or --reparse parses them
    again to fill those in."""
    query = sql_text("queries/documents_to_fill")
    return con.execute(query, {"sections": sections}).fetchall()


def documents_without_products(con: duckdb.DuckDBPyConnection) -> set[str]:
    """document_ids stored before adme read products (`products_found` NULL)."""
    rows = con.execute("SELECT document_id FROM documents WHERE products_found IS NULL")
    return {r[0] for r in rows.fetchall()}


def document_ids_by_version(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], str]:
    """(set_id, version) -> document_id, so fetch skips a stored version before downloading."""
    rows = con.execute("SELECT set_id, version, document_id FROM documents").fetchall()
    return {(s, v): d for s, v, d in rows}


def stored_rejects(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """Every (source, reason) already in `rejects`, so a re-run does not record it twice."""
    return set(con.execute("SELECT source, reason FROM rejects").fetchall())


def write_split(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params_json: str,
    classes: Sequence[str],
    folded: int,
    rows: pa.Table,
    replace: bool = False,
) -> str:
    """Store one named split (`splits` row + `split_rows`) in one transaction; return its id.

    `rows` holds paragraph_id, part, label. An existing name is an AdmeError unless `replace`,
    in which case the old rows go in the same transaction, so a failure leaves the old split.
    The id is the split's content identity (sql/queries/split_content_id.sql): the same rows
    give the same id, whenever and under whatever name they are stored.
    """
    try:
        with transaction(con):
            exists = con.execute("SELECT 1 FROM splits WHERE split_name = ?", [name]).fetchone()
            if exists and not replace:
                raise AdmeError(f"split {name!r} already exists (use --replace to rebuild it)")
            con.execute("DELETE FROM split_rows WHERE split_name = ?", [name])
            con.execute("DELETE FROM splits WHERE split_name = ?", [name])
            con.execute(
                "INSERT INTO splits (split_name, params, classes, folded) VALUES (?, ?, ?, ?)",
                [name, params_json, list(classes), folded],
            )
            con.register("incoming_split_rows", rows)
            con.execute(
                "INSERT INTO split_rows (split_name, paragraph_id, part, label) "
                "SELECT ?, paragraph_id, part, label FROM incoming_split_rows",
                [name],
            )
            (content_id,) = con.execute(
                sql_text("queries/split_content_id"), {"split": name}
            ).fetchone()
            con.execute("UPDATE splits SET content_id = ? WHERE split_name = ?", [content_id, name])
    finally:
        con.unregister("incoming_split_rows")
    return content_id


def record_release(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """Store one applied release or update file (`releases`); the same file twice is a no-op."""
    con.execute(sql_text("queries/record_release"), row)


def release_counts(con: duckdb.DuckDBPyConnection, url: str) -> tuple[int, int]:
    """(documents, rejected sources) recorded from the file downloaded from `url`.

    Counted from the stored rows, not from one run, so a file whose ingest was interrupted and
    resumed is recorded exactly as an uninterrupted run would record it.
    """
    added, rejected = con.execute(
        sql_text("queries/release_counts"), {"url": url, "prefix": f"{url}!"}
    ).fetchone()
    return int(added), int(rejected)


def applied_releases(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, object]]:
    """(name, size, published) of every release or update file already applied."""
    return con.execute("SELECT name, size, published FROM releases").fetchall()


def documents_without_sections(con: duckdb.DuckDBPyConnection, url: str) -> int:
    """How many documents read from the release file at `url` were stored without sections."""
    return con.execute(
        "SELECT count(*) FROM documents WHERE sections_found IS NULL AND starts_with(source, ?)",
        [url + "!"],
    ).fetchone()[0]


def newest_release_date(con: duckdb.DuckDBPyConnection):
    """The newest published date among applied files (what --updates starts after), or None."""
    return con.execute("SELECT max(published) FROM releases").fetchone()[0]
