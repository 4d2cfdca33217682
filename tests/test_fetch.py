"""Ingest end to end: real labels from data/spl, the real parser, a real DuckDB file.

Covers every input shape `adme fetch` takes, bad input (each rejected on one line while the
good files and the rows already stored survive), a locked database, a killed run resumed, and
fetching from a real HTTP server on 127.0.0.1 that speaks DailyMed v2.
"""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from adme import cache
from adme.cli import app
from adme.dailymed import DailyMedClient
from adme.errors import AdmeError
from adme.fetch import fetch_from_dailymed, fetch_from_path
from adme.spl import parse_spl
from tests.http_fixture_server import API, GETFILE, Fault, FixtureServer, label_from_file
from tests.spl_inputs import (
    BILLION_LAUGHS,
    MALFORMED,
    NOT_SPL,
    XXE,
    relabelled,
    sample_files,
    truncated,
    write_inner_zip_folder,
    write_release,
    zip_bomb_member,
    zip_of,
)

ROOT = Path(__file__).resolve().parent.parent
INOMAX = "762b51be-1893-4cd1-9511-e645fc420d3a"  # three versions in the sample


def tables(db_path: Path) -> dict[str, list[tuple]]:
    """Every stored row of documents, paragraphs and rejects, in a stable order."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return {
            "documents": con.execute(
                "SELECT * EXCLUDE (fetched_at) FROM documents ORDER BY document_id"
            ).fetchall(),
            "paragraphs": con.execute("SELECT * FROM paragraphs ORDER BY paragraph_id").fetchall(),
            "rejects": con.execute(
                "SELECT source, reason FROM rejects ORDER BY source, reason"
            ).fetchall(),
        }


def expected_documents(xmls: list[bytes]) -> dict[str, int]:
    """document_id -> paragraph count, straight from the parser (what a complete run stores)."""
    parsed = [parse_spl(x, "expected") for x in xmls]
    return {d.document_id: len(d.paragraphs) for d in parsed}


def stored_paragraph_counts(db_path: Path) -> dict[str, int]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT d.document_id, count(p.paragraph_id) FROM documents d "
            "LEFT JOIN paragraphs p USING (document_id) GROUP BY d.document_id"
        ).fetchall()
    return dict(rows)


def cli(*args: str):
    return CliRunner().invoke(app, ["fetch", *args, "--no-progress"])


# --- from disk ---------------------------------------------------------------------------


def test_folder_of_xml_then_rerun_changes_nothing(tmp_path):
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"
    files = sample_files()
    expected = expected_documents([f.read_bytes() for f in files])

    first = fetch_from_path(db, ROOT / "data" / "spl", store, progress=False)
    assert first.fetched == len(expected) and first.skipped == 0 and first.rejects == []
    assert first.paragraphs_added == sum(expected.values())
    assert stored_paragraph_counts(db) == expected
    assert sorted(first.document_ids) == sorted(expected)
    before = tables(db)

    second = fetch_from_path(db, ROOT / "data" / "spl", store, progress=False)
    assert (second.fetched, second.skipped, second.paragraphs_added) == (0, len(expected), 0)
    assert sorted(second.document_ids) == sorted(expected)
    assert tables(db) == before
    assert second.line() == (
        f"fetched 0, skipped {len(expected)} already stored, rejected 0, paragraphs added 0"
    )


def test_from_disk_leaves_the_cache_empty_by_default(sample_db_template):
    # The input is already on disk: copying it would double a release for nothing.
    root = sample_db_template.parent / "cache"
    assert not root.exists() or not any(root.rglob("*.xml"))
    with duckdb.connect(str(sample_db_template), read_only=True) as con:
        rows = con.execute("SELECT source, sha256 FROM documents").fetchall()
    assert len(rows) == len(sample_files())
    for source, digest in rows:  # still the digest of the raw XML
        assert cache.sha256_of(Path(source).read_bytes()) == digest


def test_keep_xml_puts_every_stored_document_in_the_cache(tmp_path):
    root = tmp_path / "cache"
    fetched = fetch_from_path(
        tmp_path / "k.duckdb", ROOT / "data" / "spl", root, False, keep_xml=True
    )
    with duckdb.connect(str(tmp_path / "k.duckdb"), read_only=True) as con:
        hashes = [h for (h,) in con.execute("SELECT sha256 FROM documents").fetchall()]
    assert len(hashes) == fetched.fetched == len(sample_files())
    for digest in hashes:
        assert cache.sha256_of(cache.get(root, digest)) == digest
    assert len(list(root.rglob("*.xml"))) == len(hashes)


def test_keep_xml_flag_on_the_command_line(tmp_path):
    db, root, one = tmp_path / "adme.duckdb", tmp_path / "cache", sample_files(1)[0]
    assert cli("--from", str(one), "--db", str(db), "--cache", str(root)).exit_code == 0
    assert not any(root.rglob("*.xml"))
    kept = cli(
        "--from", str(one), "--db", str(tmp_path / "b.duckdb"), "--cache", str(root), "--keep-xml"
    )
    assert kept.exit_code == 0, kept.output
    assert [p.name for p in root.rglob("*.xml")] == [f"{cache.sha256_of(one.read_bytes())}.xml"]


def test_parse_threads_store_the_same_rows_as_one_thread(tmp_path, sample_db_template):
    # The template was ingested on the default parse threads; one thread must store the same.
    serial = fetch_from_path(
        tmp_path / "s.duckdb", ROOT / "data" / "spl", tmp_path / "c", False, threads=1
    )
    threaded = fetch_from_path(
        tmp_path / "t.duckdb", ROOT / "data" / "spl", tmp_path / "c", False, threads=4
    )
    assert (
        tables(tmp_path / "s.duckdb") == tables(tmp_path / "t.duckdb") == tables(sample_db_template)
    )
    assert serial == threaded  # same counts, same document_ids in the same (input) order


def test_parse_threads_skip_the_same_bytes_twice_in_one_input(tmp_path):
    xmls = [f.read_bytes() for f in sample_files(3)]
    folder = tmp_path / "in"
    folder.mkdir()
    for i, xml in enumerate([xmls[0], xmls[1], xmls[0], xmls[2], xmls[1]]):
        (folder / f"{i}.xml").write_bytes(xml)
    summary = fetch_from_path(tmp_path / "a.duckdb", folder, tmp_path / "c", False, threads=3)
    assert (summary.fetched, summary.skipped, summary.rejected) == (3, 2, 0)
    assert summary.document_ids == [parse_spl(x, "x").document_id for x in xmls]


def test_sample_db_fixture_is_a_private_copy(sample_db, sample_db_template):
    assert sample_db != sample_db_template
    assert tables(sample_db) == tables(sample_db_template)


def test_release_zip_folder_of_inner_zips_and_single_xml_store_the_same(tmp_path):
    xmls = [f.read_bytes() for f in sample_files(6)]
    release = write_release(tmp_path / "dm_spl_release_human_rx_part1.zip", xmls)
    inner = write_inner_zip_folder(tmp_path / "inner", xmls)

    from_release = fetch_from_path(tmp_path / "a.duckdb", release, tmp_path / "c", False)
    from_folder = fetch_from_path(tmp_path / "b.duckdb", inner, tmp_path / "c", False)
    assert from_release.fetched == from_folder.fetched == len(xmls)

    def without_source(db):
        return [r[:6] + r[7:] for r in tables(db)["documents"]]

    assert without_source(tmp_path / "a.duckdb") == without_source(tmp_path / "b.duckdb")
    assert (
        tables(tmp_path / "a.duckdb")["paragraphs"] == tables(tmp_path / "b.duckdb")["paragraphs"]
    )
    with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as con:
        sources = [s for (s,) in con.execute("SELECT source FROM documents").fetchall()]
    assert all(s.startswith(f"{release}!prescription/") and s.endswith(".xml") for s in sources)

    single = fetch_from_path(tmp_path / "s.duckdb", sample_files(1)[0], tmp_path / "c", False)
    assert single.fetched == 1 and single.document_ids == [parse_spl(xmls[0], "x").document_id]


@pytest.mark.slow
def test_parsing_in_worker_processes_stores_the_same_rows(tmp_path, sample_db_template):
    serial = tables(sample_db_template)
    parallel = fetch_from_path(
        tmp_path / "p.duckdb", ROOT / "data" / "spl", tmp_path / "c", False, parse_workers=2
    )
    assert parallel.fetched == len(serial["documents"]) and not parallel.rejects
    stored = tables(tmp_path / "p.duckdb")
    assert stored["paragraphs"] == serial["paragraphs"]
    assert stored["documents"] == serial["documents"]


def section_rows(db_path: Path) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute("SELECT * FROM sections ORDER BY document_id, ordinal").fetchall()


@pytest.mark.slow
def test_sections_are_the_same_on_every_engine_and_only_with_the_option(tmp_path):
    sample = ROOT / "data" / "spl"
    runs = {
        engine: fetch_from_path(
            tmp_path / f"{engine}.duckdb", sample, tmp_path / "c", False, sections=True, **options
        )
        for engine, options in {
            "serial": {"threads": 1, "parse_workers": 0},
            "threads": {"threads": 2, "parse_workers": 0},
            "processes": {"parse_workers": 2},
        }.items()
    }
    assert all(run.fetched == 46 and not run.rejects for run in runs.values())
    serial = section_rows(tmp_path / "serial.duckdb")
    with duckdb.connect(str(tmp_path / "serial.duckdb"), read_only=True) as con:
        kept = con.execute("SELECT count(sections_found), sum(sections_found) FROM documents")
        assert kept.fetchone() == (46, len(serial)) and len(serial) > 20 * 46
    assert section_rows(tmp_path / "threads.duckdb") == serial
    assert section_rows(tmp_path / "processes.duckdb") == serial
    plain = fetch_from_path(tmp_path / "plain.duckdb", sample, tmp_path / "c", False)
    assert plain.fetched == 46 and section_rows(tmp_path / "plain.duckdb") == []
    with duckdb.connect(str(tmp_path / "plain.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(sections_found) FROM documents").fetchone()[0] == 0


@pytest.mark.slow
def test_worker_processes_reading_files_skip_stored_and_duplicate_bytes(tmp_path):
    # Parse processes read and hash .xml files themselves: a re-run still skips every stored
    # file, the same bytes twice in one input are stored once, and a broken file is a reject.
    folder = tmp_path / "in"
    folder.mkdir()
    first, second = sample_files(2)
    for name, source in (("a.xml", first), ("b.xml", second), ("c.xml", first)):
        (folder / name).write_bytes(source.read_bytes())
    (folder / "d.xml").write_bytes(b"<document")
    db, cache_dir = tmp_path / "p.duckdb", tmp_path / "c"
    run = fetch_from_path(db, folder, cache_dir, False, parse_workers=2)
    assert (run.fetched, run.skipped, run.rejected) == (2, 1, 1)
    assert "truncated XML" in run.rejects[0][1] and run.rejects[0][0].endswith("d.xml")
    again = fetch_from_path(db, folder, cache_dir, False, parse_workers=2)
    assert (again.fetched, again.skipped, again.rejected) == (0, 3, 1)
    assert again.document_ids == run.document_ids


@pytest.mark.slow
@pytest.mark.parametrize("keep_xml", [False, True])
def test_worker_process_chunks_store_what_a_serial_run_stores(tmp_path, monkeypatch, keep_xml):
    # Processes take labels in chunks (3 here): the last chunk is short; a reject mid-chunk (a
    # bad file, an unsafe ZIP member); the same bytes again in later chunks; ZIP members
    # (hashed here) and inner ZIPs (unpacked there) beside files the processes read. A re-run
    # skips all of it in order.
    monkeypatch.setattr("adme.fetch.PROCESS_CHUNK", 3)
    a, b, c, d, e, f = (x.read_bytes() for x in sample_files(6))
    folder = tmp_path / "in"
    folder.mkdir()
    for i, data in enumerate([a, b, c, d, b"<document", a, e, b]):
        (folder / f"{i:02d}.xml").write_bytes(data)
    with zipfile.ZipFile(folder / "08.zip", "w") as archive:
        archive.writestr("c_again.xml", c)
        archive.writestr("../unsafe.xml", d)
        archive.writestr("f.xml", f)
    # A release: inner ZIPs, which processes unpack themselves. Two labels in one, a label seen
    # before, a cut inner ZIP, an unsafe member inside one, a ZIP nested too deep, no XML.
    inner = {
        "two.zip": zip_of({"e.xml": e, "img.jpg": b"jpeg", "a.xml": a}),
        "cut.zip": zip_of({"x.xml": f})[:-30],
        "unsafe.zip": zip_of({"../x.xml": f}),
        "deep.zip": zip_of({"deeper.zip": zip_of({"f.xml": f})}),
        "images.zip": zip_of({"img.jpg": b"jpeg"}),
        "new.zip": zip_of({"new.xml": sample_files(7)[6].read_bytes()}),
    }
    with zipfile.ZipFile(folder / "09.zip", "w") as archive:
        for name, data in inner.items():
            archive.writestr(f"prescription/{name}", data)

    def run(name: str, **options):
        db = tmp_path / f"{name}.duckdb"
        first = fetch_from_path(db, folder, tmp_path / name, False, keep_xml=keep_xml, **options)
        again = fetch_from_path(db, folder, tmp_path / name, False, keep_xml=keep_xml, **options)
        return first, again, tables(db)

    serial, serial_again, serial_rows = run("serial", threads=1)
    chunked, chunked_again, chunked_rows = run("chunked", parse_workers=2)
    assert (serial.fetched, serial.skipped, serial.rejected) == (7, 5, 5)
    assert (serial_again.fetched, serial_again.skipped) == (0, 12)
    assert chunked_rows == serial_rows
    assert (chunked, chunked_again) == (serial, serial_again)  # ids and rejects in input order


def test_a_newer_version_is_added_beside_the_old_one(tmp_path):
    versions = sorted(sample_files(), key=lambda p: p.name)
    inomax = [p for p in versions if p.name.startswith(INOMAX)]
    db = tmp_path / "adme.duckdb"
    fetch_from_path(db, inomax[0], tmp_path / "c", progress=False)
    newer = fetch_from_path(db, inomax[1], tmp_path / "c", progress=False)
    assert newer.fetched == 1
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT version FROM documents WHERE set_id = ? ORDER BY version", [INOMAX]
        ).fetchall() == [(12,), (13,)]
        assert con.execute(
            "SELECT version FROM latest_documents WHERE set_id = ?", [INOMAX]
        ).fetchall() == [(13,)]


# --- bad input -----------------------------------------------------------------------------


def test_bad_files_are_rejected_one_line_each_and_stored_rows_survive(tmp_path):
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"
    good = [f.read_bytes() for f in sample_files(5)]
    first = tmp_path / "first"
    first.mkdir()
    for i, xml in enumerate(good[:3]):
        (first / f"good{i}.xml").write_bytes(xml)
    assert cli("--from", str(first), "--db", str(db), "--cache", str(store)).exit_code == 0
    before = tables(db)

    bad = tmp_path / "bad"
    bad.mkdir()
    files = {
        "a_malformed.xml": MALFORMED,
        "b_truncated.xml": truncated(good[3]),
        "c_not_spl.xml": NOT_SPL,
        "d_xxe.xml": XXE,
        "e_billion_laughs.xml": BILLION_LAUGHS,
        "f_new_good.xml": good[3],
        "g_new_good.xml": good[4],
    }
    for name, data in files.items():
        (bad / name).write_bytes(data)
    with zipfile.ZipFile(bad / "h_release.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../../outside.xml", good[0])
        archive.writestr("/abs/outside.xml", good[0])
        archive.writestr("bomb.xml", zip_bomb_member())
    outside_before = set(tmp_path.rglob("*"))

    result = cli("--from", str(bad), "--db", str(db), "--cache", str(store))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("rejected: ")]
    expected_sources = [
        bad / "a_malformed.xml",
        bad / "b_truncated.xml",
        bad / "c_not_spl.xml",
        bad / "d_xxe.xml",
        bad / "e_billion_laughs.xml",
    ]
    for path in expected_sources:
        assert sum(line.startswith(f"rejected: {path}: ") for line in lines) == 1
    archive_members = [line for line in lines if "h_release.zip!" in line]
    assert len(archive_members) == 3
    assert any("../../outside.xml: unsafe member name" in line for line in archive_members)
    assert any("/abs/outside.xml: unsafe member name" in line for line in archive_members)
    assert any("bomb.xml: ZIP bomb" in line for line in archive_members)
    assert len(lines) == 8
    assert "fetched 2, skipped 0 already stored, rejected 8" in result.stdout

    after = tables(db)
    assert set(before["documents"]) <= set(after["documents"])
    assert set(before["paragraphs"]) <= set(after["paragraphs"])
    assert len(after["documents"]) == len(before["documents"]) + 2
    assert len(after["rejects"]) == 8
    new_paths = set(tmp_path.rglob("*")) - outside_before
    assert all(p.is_relative_to(store) or p.name.startswith("adme.duckdb") for p in new_paths)
    assert not any("root:" in row[7] for row in after["paragraphs"])  # /etc/passwd never read

    again = cli("--from", str(bad), "--db", str(db), "--cache", str(store))
    assert again.exit_code == 1
    assert tables(db) == after  # same rejects are not recorded twice


def test_version_beyond_integer_is_one_reject_and_the_good_files_are_stored(tmp_path):
    # documents.version is an INTEGER: such a label once failed the whole batch (ArrowInvalid)
    # and every re-run failed at the same file, storing nothing.
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"
    folder = tmp_path / "in"
    folder.mkdir()
    good = sample_files(3)
    for file in good:
        (folder / file.name).write_bytes(file.read_bytes())
    huge = relabelled(good[0].read_bytes(), seed=77)
    huge = re.sub(rb'<versionNumber value="\d+"', b'<versionNumber value="99999999999"', huge)
    (folder / "huge-version.xml").write_bytes(huge)
    expected = expected_documents([f.read_bytes() for f in good])

    for run in range(2):
        summary = fetch_from_path(db, folder, store, progress=False, batch_size=10)
        assert (summary.fetched, summary.skipped) == ((3, 0) if run == 0 else (0, 3))
        (reject,) = summary.rejects
        assert reject == (
            str(folder / "huge-version.xml"),
            "versionNumber 99999999999 out of range 0..2147483647",
        )
        assert stored_paragraph_counts(db) == expected
    assert len(tables(db)["rejects"]) == 1


def test_missing_path_and_empty_folder_are_one_line_errors(tmp_path):
    db = tmp_path / "adme.duckdb"
    missing = cli("--from", str(tmp_path / "nope"), "--db", str(db))
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"
    (tmp_path / "empty").mkdir()
    empty = cli("--from", str(tmp_path / "empty"), "--db", str(db))
    assert empty.exit_code == 1
    assert empty.stderr.strip().startswith("error: ") and "holds no .xml or .zip" in empty.stderr
    assert not db.exists()  # nothing is created for a mistyped path


def test_locked_database_is_a_one_line_error_and_rows_are_unchanged(sample_db, tmp_path):
    before = tables(sample_db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb\n"
            f"con = duckdb.connect({str(sample_db)!r})\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        new_label = ROOT / "data" / "new"
        result = cli("--from", str(new_label), "--db", str(sample_db), "--cache", str(tmp_path))
        assert result.exit_code == 1
        assert result.stderr.strip() == f"error: {sample_db}: database is locked by another process"
        with pytest.raises(AdmeError, match="locked"):
            fetch_from_path(sample_db, new_label, tmp_path, progress=False)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert tables(sample_db) == before


@pytest.mark.slow
def test_killed_run_resumes_without_duplicates_or_half_documents(tmp_path):
    originals = [f.read_bytes() for f in sample_files()]
    xmls = [relabelled(originals[i % len(originals)], i) for i in range(160)]
    folder = tmp_path / "labels"
    folder.mkdir()
    for i, xml in enumerate(xmls):
        (folder / f"label{i:04d}.xml").write_bytes(xml)
    expected = expected_documents(xmls)
    db = tmp_path / "adme.duckdb"
    command = [
        sys.executable,
        "-c",
        "from adme.cli import app; app()",
        "fetch",
        "--from",
        str(folder),
        "--db",
        str(db),
        "--cache",
        str(tmp_path / "cache"),
        "--batch-size",
        "4",
    ]
    run = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = run.stderr.readline()  # the first committed batch
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert line.startswith("committed: ")
    assert run.returncode == -signal.SIGKILL

    partial = stored_paragraph_counts(db)
    assert 4 <= len(partial) < len(expected), "the run should have been cut half way"
    assert all(partial[d] == expected[d] for d in partial), "a half-written document"

    resumed = subprocess.run(command + ["--no-progress"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipped {len(partial)} already stored" in resumed.stdout
    assert stored_paragraph_counts(db) == expected
    with duckdb.connect(str(db), read_only=True) as con:
        n, distinct = con.execute(
            "SELECT count(*), count(DISTINCT (set_id, version)) FROM documents"
        ).fetchone()
        assert n == distinct == len(expected)
        assert con.execute(
            "SELECT count(*) = count(DISTINCT paragraph_id) FROM paragraphs"
        ).fetchone()[0]


# --- from DailyMed (real HTTP on 127.0.0.1) ------------------------------------------------


@pytest.fixture(scope="module")
def fixture_labels():
    return [label_from_file(p) for p in sample_files()]


@pytest.fixture
def server(fixture_labels):
    with FixtureServer(fixture_labels) as running:
        yield running


def api_fetch(server, db, store, **options):
    defaults = {"base_url": server.base_url, "rate": 200.0, "progress": False, "workers": 4}
    return fetch_from_dailymed(db, store, **{**defaults, **options})


def test_drug_listing_to_limit_then_cache_means_no_download(server, tmp_path):
    store = tmp_path / "cache"
    first = api_fetch(server, tmp_path / "a.duckdb", store, drug="metformin", limit=3)
    assert first.fetched == 3 and not first.rejects
    xml_requests = server.count(API + "spls/")
    assert xml_requests == 3
    before = tables(tmp_path / "a.duckdb")
    with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as con:
        titles = con.execute("SELECT source FROM documents").fetchall()
    assert all(s.startswith(server.base_url + "spls/") for (s,) in titles)

    again = api_fetch(server, tmp_path / "a.duckdb", store, drug="metformin", limit=3)
    assert (again.fetched, again.skipped) == (0, 3)
    assert sorted(again.document_ids) == sorted(first.document_ids)
    assert tables(tmp_path / "a.duckdb") == before

    fresh = api_fetch(server, tmp_path / "b.duckdb", store, drug="metformin", limit=3)
    assert fresh.fetched == 3
    assert server.count(API + "spls/") == xml_requests  # the cache answered, no download
    assert tables(tmp_path / "b.duckdb") == before


def test_sections_of_labels_fetched_without_them_come_from_the_cache(server, tmp_path):
    db, store = tmp_path / "a.duckdb", tmp_path / "cache"
    first = api_fetch(server, db, store, drug="metformin", limit=3)
    assert first.fetched == 3 and section_rows(db) == []
    downloads = server.count(API + "spls/")
    filled = api_fetch(server, db, store, drug="metformin", limit=3, sections=True)
    assert (filled.fetched, filled.skipped, filled.sections_filled) == (0, 3, 3)
    assert server.count(API + "spls/") == downloads  # read from the cache, not downloaded
    fresh = api_fetch(
        server, tmp_path / "b.duckdb", store, drug="metformin", limit=3, sections=True
    )
    assert section_rows(db) == section_rows(tmp_path / "b.duckdb") != []
    again = api_fetch(server, db, store, drug="metformin", limit=3, sections=True)
    assert (again.skipped, again.sections_filled) == (3, 0) and fresh.fetched == 3


def test_downloads_run_on_at_most_workers_threads(server, tmp_path):
    server.label_delay = 0.15
    db, store = tmp_path / "a.duckdb", tmp_path / "c"
    summary = api_fetch(server, db, store, since="2000-01-01", limit=8, workers=2)
    assert summary.fetched == 8
    assert server.max_active == 2


def test_all_versions_uses_history_and_zip_downloads(server, tmp_path, fixture_labels):
    db = tmp_path / "adme.duckdb"
    summary = api_fetch(server, db, tmp_path / "cache", setids=[INOMAX], all_versions=True)
    assert summary.fetched == 3 and not summary.rejects
    assert server.count(API + f"spls/{INOMAX}/history.json") == 1
    assert server.count(API + f"spls/{INOMAX}.xml") == 1
    assert server.count(GETFILE + "?type=zip") == 2
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT version, sha256 FROM documents ORDER BY version").fetchall()
    by_version = {x.version: cache.sha256_of(x.xml) for x in fixture_labels if x.setid == INOMAX}
    assert rows == sorted(by_version.items())


def moved_on(label, version: int) -> bytes:
    """The XML of `label` as its next version: a new document id and versionNumber."""
    xml = re.sub(
        rb'(<document[^>]*>\s*<id root=")[^"]+', rb"\g<1>" + str(uuid.uuid4()).encode(), label.xml
    )
    return re.sub(rb'<versionNumber value="\d+"', b'<versionNumber value="%d"' % version, xml)


def stored_versions(db: Path, setid: str) -> list[tuple[int, str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT version, sha256, source FROM documents WHERE set_id = ? ORDER BY version",
            [setid],
        ).fetchall()


def inomax_versions(fixture_labels) -> dict[int, bytes]:
    return {x.version: x.xml for x in fixture_labels if x.setid == INOMAX}


def test_label_updated_after_listing_is_cached_as_the_version_it_is(
    server, tmp_path, fixture_labels
):
    # The listing says v14; by the time of the download spls/{SETID}.xml serves v15.
    versions = inomax_versions(fixture_labels)
    v15 = moved_on(next(x for x in fixture_labels if x.setid == INOMAX and x.version == 14), 15)
    server.fail_always(API + f"spls/{INOMAX}.xml", Fault(200, body=v15))
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"

    first = api_fetch(server, db, store, setids=[INOMAX])
    assert first.fetched == 1 and not first.rejects
    assert [v for v, _, _ in stored_versions(db, INOMAX)] == [15]
    assert cache.recall(store, f"{INOMAX}_v15") == v15
    assert cache.recall(store, f"{INOMAX}_v14") is None  # v14 was never fetched

    # --all-versions later: v14 (newest in the history) must not pass for stored; by its ZIP.
    second = api_fetch(server, db, store, setids=[INOMAX], all_versions=True)
    assert not second.rejects
    client = DailyMedClient(server.base_url)
    rows = stored_versions(db, INOMAX)
    assert [(v, h) for v, h, _ in rows] == sorted(
        [(v, cache.sha256_of(x)) for v, x in versions.items()] + [(15, cache.sha256_of(v15))]
    )
    assert {v: s for v, _, s in rows}[14].startswith(client.version_zip_url(INOMAX, 14) + "!")
    assert cache.recall(store, f"{INOMAX}_v14") == versions[14]


def test_all_versions_gets_the_listed_version_by_zip_when_the_xml_moved_on(
    server, tmp_path, fixture_labels
):
    versions = inomax_versions(fixture_labels)
    v15 = moved_on(next(x for x in fixture_labels if x.setid == INOMAX and x.version == 14), 15)
    server.fail_always(API + f"spls/{INOMAX}.xml", Fault(200, body=v15))
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"
    summary = api_fetch(server, db, store, setids=[INOMAX], all_versions=True)
    assert summary.fetched == len(versions) + 1 and not summary.rejects
    assert [v for v, _, _ in stored_versions(db, INOMAX)] == sorted([*versions, 15])
    assert server.count(GETFILE + "?type=zip") == len(versions)  # v14 too, by its ZIP
    again = api_fetch(server, db, store, setids=[INOMAX], all_versions=True)
    assert (again.fetched, again.skipped, again.rejected) == (0, len(versions), 0)


def test_source_urls_are_escaped_and_an_odd_set_id_is_one_reject(fixture_labels, tmp_path):
    # A listing row whose set id is not a UUID: once a crash ("not a valid cache key") that
    # stopped the run, with the document source built unescaped beside the client's URLs.
    normal = dataclasses.replace(fixture_labels[0], title="ZZQ tablets")
    odd = dataclasses.replace(fixture_labels[1], setid="odd id/../1", title="ZZQ odd")
    with FixtureServer([normal, odd]) as server:
        db = tmp_path / "adme.duckdb"
        summary = api_fetch(server, db, tmp_path / "cache", drug="zzq")
        client = DailyMedClient(server.base_url)
        assert summary.fetched == 1
        assert summary.rejects == [
            (client.spl_xml_url("odd id/../1"), "not a usable set id: 'odd id/../1'")
        ]
        assert summary.rejects[0][0] == server.base_url + "spls/odd%20id%2F..%2F1.xml"
        assert stored_versions(db, normal.setid)[0][2] == client.spl_xml_url(normal.setid)


@pytest.mark.parametrize(
    "fault", [Fault(503), Fault(200, body=b"late", delay=0.6)], ids=["5xx", "read-timeout"]
)
def test_service_failure_mid_run_keeps_stored_rows_and_good_documents(server, tmp_path, fault):
    db, store = tmp_path / "adme.duckdb", tmp_path / "cache"
    assert api_fetch(server, db, store, setids=[INOMAX]).fetched == 1
    before = tables(db)
    metformin = [x.setid for x in server.labels if "metformin" in x.title.lower()]
    server.fail_always(API + f"spls/{sorted(metformin)[2]}.xml", fault)
    with pytest.raises(AdmeError) as raised:
        api_fetch(server, db, store, drug="metformin", workers=1, retries=0, read_timeout=0.3)
    assert "\n" not in str(raised.value)
    assert ("HTTP 503" if fault.status == 503 else "read timeout") in str(raised.value)
    after = tables(db)
    assert set(before["documents"]) <= set(after["documents"])
    assert before["paragraphs"] == [p for p in after["paragraphs"] if p[1] in before_ids(before)]
    assert len(after["documents"]) == len(before["documents"]) + 2  # the two listed before it


def before_ids(snapshot) -> set[str]:
    return {row[0] for row in snapshot["documents"]}


def test_unknown_setid_is_rejected_and_the_rest_stored(server, tmp_path):
    unknown = "00000000-0000-0000-0000-000000000000"
    result = CliRunner().invoke(
        app,
        [
            "fetch",
            "--setid",
            unknown,
            "--setid",
            INOMAX,
            "--base-url",
            server.base_url,
            "--rate",
            "200",
            "--db",
            str(tmp_path / "adme.duckdb"),
            "--cache",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == f"rejected: setid {unknown}: not found on DailyMed"
    assert result.stdout.startswith("fetched 1, skipped 0")


def test_fetch_needs_something_to_fetch(tmp_path):
    with pytest.raises(AdmeError, match="say what to fetch"):
        fetch_from_dailymed(tmp_path / "a.duckdb", tmp_path / "c", progress=False)
    result = cli("--since", "yesterday", "--db", str(tmp_path / "a.duckdb"))
    assert result.exit_code == 2 and "--since must be a date YYYY-MM-DD" in result.stderr
    both = cli("--from", str(tmp_path), "--drug", "x", "--db", str(tmp_path / "a.duckdb"))
    assert both.exit_code == 2 and "cannot be combined with --drug" in both.stderr


def test_help_explains_every_option():
    result = CliRunner().invoke(app, ["fetch", "--help"])
    assert result.exit_code == 0
    for option in (
        "--from",
        "--drug",
        "--setid",
        "--since",
        "--doctype",
        "--limit",
        "--all-versions",
        "--base-url",
        "--workers",
        "--db",
        "--cache",
    ):
        assert option in result.stdout
