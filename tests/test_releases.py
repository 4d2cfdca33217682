"""`adme fetch --release` and `--updates` over real HTTP against a resources page on 127.0.0.1.

The page links small release parts and update ZIPs built from the real labels in data/spl.
Downloads are cut mid-file (resume completes them), served by a server that ignores Range
(restart cleanly), interrupted with kill -9 (the rerun ends with the rows of an uninterrupted
run), and a release already applied is neither downloaded nor ingested again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from adme import releases
from adme.cli import app
from adme.errors import AdmeError
from tests.http_fixture_server import FILES, ReleaseServer
from tests.spl_inputs import inner_zip, inner_zip_name, sample_files, zip_of

ROOT = Path(__file__).resolve().parent.parent
PART1 = "dm_spl_release_human_rx_part1.zip"
PART2 = "dm_spl_release_human_rx_part2.zip"


def new_version(xml: bytes, seed: int) -> bytes:
    """The next version of a real label: same set id, version + 1, a new document id."""
    version = int(re.search(rb'<versionNumber value="(\d+)"', xml).group(1))
    new_id = str(uuid.UUID(int=10**6 + seed)).encode()
    xml = re.sub(rb'(<document[^>]*>\s*<id root=")[^"]+', rb"\g<1>" + new_id, xml, count=1)
    return xml.replace(
        f'<versionNumber value="{version}"'.encode(),
        f'<versionNumber value="{version + 1}"'.encode(),
        1,
    )


def release_zip(xmls: list[bytes], folder: str = "prescription/") -> bytes:
    return zip_of({f"{folder}{inner_zip_name(x)}": inner_zip(x) for x in xmls})


@pytest.fixture(scope="module")
def labels() -> list[bytes]:
    return [f.read_bytes() for f in sample_files()]


@pytest.fixture(scope="module")
def files(labels) -> dict[str, bytes]:
    """Two release parts, two daily updates after it, and older updates it already holds."""
    updated = [new_version(labels[i], i) for i in (0, 1, 24)]  # set ids found once
    return {
        PART1: release_zip(labels[:20]),
        PART2: release_zip(labels[20:40]),
        "dm_spl_daily_update_08052026.zip": zip_of(
            {
                f"prescription/{inner_zip_name(updated[0])}": inner_zip(updated[0]),
                f"otc/{inner_zip_name(labels[40])}": inner_zip(labels[40]),  # not human Rx
            }
        ),
        "dm_spl_daily_update_08062026.zip": release_zip(updated[1:]),
        "dm_spl_daily_update_08012026.zip": release_zip([labels[41]]),  # before the release
        "dm_spl_monthly_update_jul2026.zip": release_zip([labels[42]]),
    }


def fetch(server: ReleaseServer, db: Path, cache: Path, *args: str):
    return CliRunner().invoke(
        app,
        ["fetch", *args, "--release-url", server.page_url, "--db", str(db), "--cache", str(cache)]
        + ["--no-progress", "--rate", "1000"],
    )


def rows(db: Path) -> dict[str, list[tuple]]:
    """Every stored row that a run makes (timestamps excluded)."""
    with duckdb.connect(str(db), read_only=True) as con:
        query = {
            "documents": "SELECT * EXCLUDE (fetched_at) FROM documents ORDER BY document_id",
            "paragraphs": "SELECT * FROM paragraphs ORDER BY paragraph_id",
            "rejects": "SELECT source, reason FROM rejects ORDER BY ALL",
            "releases": "SELECT * EXCLUDE (applied_at) FROM releases ORDER BY name",
        }
        return {table: con.execute(sql).fetchall() for table, sql in query.items()}


# --- names, links, choices -------------------------------------------------------------------


def test_file_names_give_kind_part_and_period():
    parse = releases.parse_file_name
    assert parse(PART1, "u") == releases.ReleaseFile(PART1, "u", "release", "human-rx", 1)
    assert parse("dm_spl_release_human_otc_part10.zip", "u").part == 10
    assert parse("dm_spl_release_remainder.zip", "u").release == "remainder"
    daily = parse("dm_spl_daily_update_08052026.zip", "u")
    assert (daily.kind, daily.start, daily.end) == (
        "daily",
        dt.date(2026, 8, 5),
        dt.date(2026, 8, 5),
    )
    monthly = parse("dm_spl_monthly_update_feb2024.zip", "u")
    assert (monthly.start, monthly.end) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    weekly = parse("dm_spl_weekly_update_072726_080226.zip", "u")
    assert (weekly.start, weekly.end) == (dt.date(2026, 7, 27), dt.date(2026, 8, 2))
    for other in (
        "rxnorm_mappings.zip",
        "dm_spl_zip_files_meta_data.zip",
        "dm_spl_daily_update_x.zip",
    ):
        assert parse(other, "u") is None


def test_links_are_resolved_relative_and_absolute():
    page = (
        b'<html><body><a href="../files/a.zip">a</a> <a href="https://x.org/b.zip">b</a>'
        b'<a href=" c.zip ">c</a><a>no link</a></body></html>'
    )
    assert releases.page_links(page, "https://h.org/dm/page.cfm") == [
        "https://h.org/files/a.zip",
        "https://x.org/b.zip",
        "https://h.org/dm/c.zip",
    ]


def test_updates_are_chosen_oldest_first_months_before_their_days():
    def update(name):
        return releases.parse_file_name(name, name)

    page = [
        update(n)
        for n in (
            "dm_spl_daily_update_08062026.zip",
            "dm_spl_daily_update_07152026.zip",  # inside the monthly file
            "dm_spl_monthly_update_jul2026.zip",
            "dm_spl_daily_update_08012026.zip",
            "dm_spl_daily_update_08032026.zip",  # after a gap (no 08/02 file)
            "dm_spl_monthly_update_jun2026.zip",  # older than the database
        )
    ]
    chosen = releases.choose_updates(page, dt.date(2026, 6, 30))
    assert [f.name for f in chosen] == [
        "dm_spl_monthly_update_jul2026.zip",
        "dm_spl_daily_update_08012026.zip",
        "dm_spl_daily_update_08032026.zip",
        "dm_spl_daily_update_08062026.zip",
    ]
    assert releases.choose_updates(page, dt.date(2026, 8, 6)) == []


@pytest.mark.parametrize("text", ["1,x", "0", ","])
def test_bad_parts_are_one_line(text):
    with pytest.raises(AdmeError, match="--parts"):
        releases.parse_parts(text)


# --- end to end over HTTP ------------------------------------------------------------------


def test_release_then_rerun_downloads_and_ingests_nothing_new(files, labels, tmp_path):
    db, cache = tmp_path / "a.duckdb", tmp_path / "cache"
    with ReleaseServer(files) as server:
        first = fetch(server, db, cache, "--release", "human-rx")
        assert first.exit_code == 0, first.output
        assert f"applied {PART1}: fetched 20," in first.stdout
        assert f"applied {PART2}: fetched 20," in first.stdout
        assert first.stdout.splitlines()[-1].startswith("fetched 40, skipped 0")
        stored = rows(db)
        assert len(stored["documents"]) == 40
        part1_url = f"{server.origin}{FILES}{PART1}"
        sources = {d[6].split("!")[0] for d in stored["documents"]}
        assert sources == {part1_url, f"{server.origin}{FILES}{PART2}"}
        (r1, r2) = stored["releases"]
        assert r1[:3] == (PART1, "release", part1_url)
        assert r1[3] == len(files[PART1]) and r1[5] == dt.date(2026, 8, 3)  # Last-Modified
        assert r1[4] == hashlib.sha256(files[PART1]).hexdigest()
        assert r1[-3:] == (20, 0, 0)
        assert not (cache / "releases" / PART1).exists()  # not kept by default

        gets = len(server.gets(PART1))
        again = fetch(server, db, cache, "--release", "human-rx")
        assert again.exit_code == 0, again.output
        assert f"already applied {PART1}" in again.stdout
        assert "fetched 0, skipped 0" in again.stdout.splitlines()[-1]
        assert len(server.gets(PART1)) == gets  # not downloaded again
        assert rows(db) == stored

        report = CliRunner().invoke(app, ["report", "releases", "--db", str(db), "-f", "csv"])
        assert report.exit_code == 0, report.output
        assert report.stdout.splitlines()[0].startswith("name,kind,published,size_mb,added")
        assert f"{PART1},release,2026-08-03" in report.stdout


def test_a_release_applied_without_sections_is_applied_again_to_fill_them(files, tmp_path):
    db, cache = tmp_path / "a.duckdb", tmp_path / "cache"
    fresh = tmp_path / "fresh.duckdb"
    with ReleaseServer(files) as server:
        assert fetch(server, db, cache, "--release", "human-rx").exit_code == 0
        before = rows(db)
        filled = fetch(server, db, cache, "--release", "human-rx", "--sections")
        assert filled.exit_code == 0, filled.output
        for part in (PART1, PART2):
            assert f"applied {part}: fetched 0, skipped 20 already stored" in filled.stdout
        assert filled.stdout.count("sections kept for 20 stored documents") == 2
        again = fetch(server, db, cache, "--release", "human-rx", "--sections")
        assert again.stdout.count("already applied") == 2, again.output
        one_run = fetch(server, fresh, tmp_path / "c2", "--release", "human-rx", "--sections")
        assert one_run.exit_code == 0, one_run.output
    after = every_row(db)
    assert after["sections"] and after["sections"] == every_row(fresh)["sections"]
    assert after["paragraphs"] == before["paragraphs"] and after["releases"] == before["releases"]
    sections_found = 9  # the column of rows()'s documents (fetched_at left out)
    assert {row[sections_found] for row in before["documents"]} == {None}
    assert [row[:9] + row[10:] for row in after["documents"]] == [
        row[:9] + row[10:] for row in before["documents"]
    ]


def test_parts_and_keep_download(files, tmp_path):
    db, cache = tmp_path / "a.duckdb", tmp_path / "cache"
    with ReleaseServer(files) as server:
        done = fetch(server, db, cache, "--release", "human-rx", "--parts", "2", "--keep-download")
        assert done.exit_code == 0, done.output
        assert [r[0] for r in rows(db)["releases"]] == [PART2]
        assert (cache / "releases" / PART2).read_bytes() == files[PART2]
        assert server.gets(PART1) == []
        missing = fetch(server, db, cache, "--release", "human-rx", "--parts", "3")
        assert missing.exit_code == 1
        assert "error: release 'human-rx' has no part 3 (parts: 1, 2)" in missing.stderr
        unknown = fetch(server, db, cache, "--release", "vet")
        assert unknown.exit_code == 1
        assert "is not linked from the resources page (it links: human-rx)" in unknown.stderr


def test_cut_connections_resume_with_range_and_store_what_an_uncut_run_stores(files, tmp_path):
    with ReleaseServer(files) as server:
        clean = fetch(server, tmp_path / "clean.duckdb", tmp_path / "c1", "--release", "human-rx")
        assert clean.exit_code == 0, clean.output
        server.cuts[PART1] = 3
        before = len(server.gets(PART1))
        cut = fetch(server, tmp_path / "cut.duckdb", tmp_path / "c2", "--release", "human-rx")
        assert cut.exit_code == 0, cut.output
        ranges = server.gets(PART1)[before:]
        assert ranges[0] is None and len(ranges) == 4
        assert all(r.startswith("bytes=") and r != "bytes=0-" for r in ranges[1:])
        starts = [int(r[6:-1]) for r in ranges[1:]]
        assert starts == sorted(starts) and len(set(starts)) == 3  # each picks up further on
    assert rows(tmp_path / "cut.duckdb") == rows(tmp_path / "clean.duckdb")


def test_server_ignoring_range_restarts_the_file_cleanly(files, tmp_path):
    with ReleaseServer(files) as server:
        clean = fetch(server, tmp_path / "clean.duckdb", tmp_path / "c1", "--release", "human-rx")
        assert clean.exit_code == 0, clean.output
    with ReleaseServer(files, ignore_range=True) as server:
        server.cuts[PART1] = 1
        done = fetch(server, tmp_path / "r.duckdb", tmp_path / "c2", "--release", "human-rx")
        assert done.exit_code == 0, done.output
        assert len(server.gets(PART1)) == 2  # cut, then the whole file again from byte 0
    clean_rows, restarted = rows(tmp_path / "clean.duckdb"), rows(tmp_path / "r.duckdb")
    strip = lambda rows_: re.sub(r"127\.0\.0\.1:\d+", "HOST", repr(rows_))  # noqa: E731
    assert strip(restarted) == strip(clean_rows)


def test_a_server_cutting_every_try_is_one_line_and_the_part_file_is_kept(files, tmp_path):
    with ReleaseServer(files, ignore_range=True) as server:
        server.cuts[PART1] = 100
        done = fetch(server, tmp_path / "a.duckdb", tmp_path / "c", "--release", "human-rx",
                     "--retries", "2")  # fmt: skip
    assert done.exit_code == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: GET {server.origin}{FILES}{PART1}: connection broken")
    assert line.endswith("(run again to resume)")
    assert (tmp_path / "c" / "releases" / f"{PART1}.part").exists()


def test_a_truncated_file_on_the_server_is_refused_and_not_recorded(files, tmp_path):
    broken = dict(files)
    broken[PART1] = files[PART1][: len(files[PART1]) // 2]
    db = tmp_path / "a.duckdb"
    with ReleaseServer(broken) as server:
        done = fetch(server, db, tmp_path / "c", "--release", "human-rx")
        url = f"{server.origin}{FILES}{PART1}"
    assert done.exit_code == 1
    assert f"rejected: {url}: truncated ZIP: no end-of-central-directory" in done.stderr
    assert f"refused {PART1}" in done.stdout
    stored = rows(db)
    assert stored["documents"] == [] and stored["releases"] == []  # part 2 waits for part 1
    assert [r[0] for r in stored["rejects"]] == [url]


def test_updates_apply_newer_files_oldest_first_prescription_only(files, labels, tmp_path):
    db, cache = tmp_path / "a.duckdb", tmp_path / "cache"
    with ReleaseServer(files) as server:
        none_yet = fetch(server, db, cache, "--updates")
        assert none_yet.exit_code == 1
        assert "no release applied yet" in none_yet.stderr
        assert fetch(server, db, cache, "--release", "human-rx").exit_code == 0
        updated = fetch(server, db, cache, "--updates")
        assert updated.exit_code == 0, updated.output
        lines = updated.stdout.splitlines()
        assert lines[0].startswith("applied dm_spl_daily_update_08052026.zip: fetched 1,")
        assert lines[1].startswith("applied dm_spl_daily_update_08062026.zip: fetched 2,")
        stored = rows(db)
        assert len(stored["documents"]) == 43  # three new versions beside the old ones
        otc_setid = re.search(rb'<setId root="([^"]+)"', labels[40]).group(1).decode()
        assert otc_setid not in {d[1] for d in stored["documents"]}
        assert [r[0] for r in stored["releases"]][:2] == [
            "dm_spl_daily_update_08052026.zip",
            "dm_spl_daily_update_08062026.zip",
        ]
        again = fetch(server, db, cache, "--updates")
        assert again.exit_code == 0 and "no update newer than 2026-08-06" in again.stdout
        assert rows(db) == stored
        since = fetch(server, db, cache, "--updates", "--since", "2026-07-01")
        assert since.exit_code == 0, since.output
        assert since.stdout.startswith("applied dm_spl_monthly_update_jul2026.zip")
        assert "already applied dm_spl_daily_update_08052026.zip" in since.stdout


def test_release_options_that_do_not_fit_are_one_line(tmp_path):
    runner = CliRunner()
    for args, message in [
        (["--release", "human-rx", "--from", "x"], "--release cannot be combined with --from"),
        (["--release", "human-rx", "--updates"], "cannot be combined with --updates"),
        (["--updates", "--parts", "1"], "--updates cannot be combined with --parts"),
        (["--from", "data/spl", "--parts", "1"], "go with --release or --updates"),
        (["--updates", "--since", "yesterday"], "--since must be a date YYYY-MM-DD"),
        (["--release", "human-rx", "--release-url", "ftp://x/y"], "must be an http(s) address"),
    ]:
        done = runner.invoke(app, ["fetch", *args, "--db", str(tmp_path / "a.duckdb")])
        assert done.exit_code == 2, (args, done.output)  # usage errors exit 2
        assert message in done.stderr and len(done.stderr.splitlines()) == 1


# --- interrupted by kill -9 ------------------------------------------------------------------


def adme(*args: str) -> list[str]:
    return [sys.executable, "-m", "adme.cli", "fetch", *args, "--rate", "1000"]


def clean_run_then_command(base: list[str], tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Run `adme fetch BASE` uninterrupted into tmp_path/clean.duckdb (the rows to end with);
    return the database, cache and command of the run a test will interrupt."""
    clean = subprocess.run(
        adme(*base, "--db", str(tmp_path / "clean.duckdb"), "--cache", str(tmp_path / "c1")),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    db, cache = tmp_path / "a.duckdb", tmp_path / "c2"
    return db, cache, adme(*base, "--db", str(db), "--cache", str(cache))


def stored_documents(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM documents").fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["download", "ingest"])
def test_killed_release_fetch_reruns_to_the_rows_of_an_uninterrupted_run(files, tmp_path, where):
    with ReleaseServer(files) as server:
        base = ["--release", "human-rx", "--release-url", server.page_url, "--batch-size", "2"]
        db, cache, command = clean_run_then_command(base, tmp_path)
        part = cache / "releases" / f"{PART1}.part"
        if where == "download":
            server.bytes_per_second = len(files[PART1]) / 2  # about two seconds a part
        run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            if where == "download":
                deadline = time.monotonic() + 60
                while not (part.exists() and part.stat().st_size > 0):
                    assert time.monotonic() < deadline and run.poll() is None
                    time.sleep(0.02)
            else:  # the first committed batch (after the download's line)
                lines = [run.stderr.readline() for _ in range(2)]
                assert lines[-1].startswith("committed: "), lines
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()
        server.bytes_per_second = None
        if where == "download":
            assert part.exists() and not (cache / "releases" / PART1).exists()
        else:
            assert 2 <= stored_documents(db) < 40
        rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        if where == "download":
            assert server.gets(PART1)[-1].startswith("bytes=")  # resumed, not restarted
    assert rows(db) == rows(tmp_path / "clean.duckdb")


def every_row(db: Path) -> dict[str, list[tuple]]:
    """rows() and the tables an ingest also writes: products, ingredients, sections."""
    with duckdb.connect(str(db), read_only=True) as con:
        more = {
            table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ("products", "ingredients", "sections")
        }
    return {**rows(db), **more}


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("engine", [[], ["--parse-workers", "2"]], ids=["default", "processes"])
def test_ctrl_c_mid_ingest_then_rerun_gives_the_rows_of_an_uninterrupted_run(
    files, tmp_path, engine
):
    """A user's Ctrl-C: SIGINT to the whole foreground process group (adme and any parse
    processes) once a batch is committed. adme says how to resume on one line and exits 130,
    nothing of it keeps running, and the same command again ends with every row an
    uninterrupted run stores (products, ingredients and sections included)."""
    with ReleaseServer(files) as server:
        base = ["--release", "human-rx", "--release-url", server.page_url, "--batch-size", "2"]
        base += engine
        db, cache, command = clean_run_then_command(base, tmp_path)
        # Its own session: the process group a terminal's Ctrl-C reaches, apart from pytest.
        run = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True
        )
        try:
            line = run.stderr.readline()
            while line and not line.startswith("committed: "):
                line = run.stderr.readline()
            assert line.startswith("committed: "), "no batch was committed"
            os.killpg(run.pid, signal.SIGINT)
            rest = run.stderr.read()
            assert run.wait(timeout=60) == 130, rest
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
        assert "Traceback" not in rest, rest
        assert rest.strip().splitlines()[-1] == "interrupted: run the same command again to resume"
        deadline = time.monotonic() + 10
        while group_alive(run.pid):  # parse processes leave with it
            assert time.monotonic() < deadline, "a process of the interrupted run lives on"
            time.sleep(0.05)
        stored = stored_documents(db)
        assert 2 <= stored < 40, "interrupted half way, not before or after the ingest"
        rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    assert every_row(db) == every_row(tmp_path / "clean.duckdb")


def test_parts_ingested_apart_and_merged_equal_one_run(files, tmp_path):
    with ReleaseServer(files) as server:
        for name, parts in (("one", None), ("p1", "1"), ("p2", "2")):
            args = ["--release", "human-rx"] + (["--parts", parts] if parts else [])
            done = fetch(server, tmp_path / f"{name}.duckdb", tmp_path / "c", *args)
            assert done.exit_code == 0, done.output
    merged = tmp_path / "merged.duckdb"
    done = CliRunner().invoke(
        app,
        ["merge", str(tmp_path / "p1.duckdb"), str(tmp_path / "p2.duckdb"), "--db", str(merged)],
    )
    assert done.exit_code == 0, done.output
    assert rows(merged) == rows(tmp_path / "one.duckdb")
