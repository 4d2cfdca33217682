"""store.write_documents and store.transaction on a real DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

from adme import store
from adme.spl import parse_spl
from tests.spl_fixtures import paragraph, pk, spl_document

SET_ID = "11111111-2222-3333-4444-555555555555"


def label(document_id: str, version: int, *texts: str):
    xml = spl_document(
        pk("".join(paragraph(t) for t in texts)),
        document_id=document_id,
        set_id=SET_ID,
        version=version,
    )
    return parse_spl(xml, f"{document_id}.xml")


def stored(con) -> list[tuple]:
    return con.execute(
        "SELECT d.document_id, d.version, count(p.paragraph_id) FROM documents d "
        "LEFT JOIN paragraphs p USING (document_id) GROUP BY ALL ORDER BY d.document_id"
    ).fetchall()


def test_repeated_set_id_and_version_in_one_batch_keeps_the_first(tmp_path):
    con = store.connect(tmp_path / "adme.duckdb")
    first = label("aaaaaaaa-0000-0000-0000-000000000001", 3, "One.", "Two.")
    again = label("aaaaaaaa-0000-0000-0000-000000000002", 3, "Other.")
    newer = label("aaaaaaaa-0000-0000-0000-000000000003", 4, "Newer.")
    assert store.write_documents(con, [first, again, newer]) == 3
    assert stored(con) == [(first.document_id, 3, 2), (newer.document_id, 4, 1)]
    assert store.write_documents(con, [again, first]) == 0  # a second batch changes nothing
    assert stored(con) == [(first.document_id, 3, 2), (newer.document_id, 4, 1)]
    con.close()


def test_repeated_document_id_in_one_batch_keeps_the_first(tmp_path):
    con = store.connect(tmp_path / "adme.duckdb")
    document_id = "bbbbbbbb-0000-0000-0000-000000000001"
    first = label(document_id, 3, "One.", "Two.")
    same_id = label(document_id, 4, "Other.")
    assert store.write_documents(con, [first, same_id]) == 2
    assert stored(con) == [(document_id, 3, 2)]
    con.close()


def test_a_failed_commit_surfaces_its_own_error_not_the_rollback(tmp_path):
    # Two transactions insert the same document; the second one's COMMIT fails, after which
    # DuckDB has no transaction left to roll back. The COMMIT error is the one to see.
    con = store.connect(tmp_path / "adme.duckdb")
    writer, rival = con.cursor(), con.cursor()
    document = label("cccccccc-0000-0000-0000-000000000001", 3, "Text.")
    with pytest.raises(duckdb.Error) as raised, store.transaction(writer):
        writer.execute(
            "INSERT INTO documents (document_id, set_id, version, sha256) VALUES (?, ?, ?, 'x')",
            [document.document_id, document.set_id, document.version],
        )
        assert store.write_documents(rival, [document]) == 1  # commits first
    assert "Failed to commit" in str(raised.value)
    assert "no transaction is active" not in str(raised.value)
    assert any("ROLLBACK also failed" in note for note in raised.value.__notes__)
    assert stored(con) == [(document.document_id, 3, 1)]  # the rival's whole document only
    writer.execute("SELECT 1")  # the cursor is usable again
    con.close()


def test_an_error_inside_the_transaction_rolls_back_and_is_re_raised(tmp_path):
    con = store.connect(tmp_path / "adme.duckdb")
    document = label("dddddddd-0000-0000-0000-000000000001", 3, "Text.")
    with pytest.raises(KeyboardInterrupt), store.transaction(con):
        con.execute(
            "INSERT INTO documents (document_id, set_id, version, sha256) VALUES (?, ?, ?, 'x')",
            [document.document_id, document.set_id, document.version],
        )
        raise KeyboardInterrupt
    assert stored(con) == []
    con.close()
