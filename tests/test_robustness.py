"""A partial download never passes as a good one, and bad paths or inputs end in one line.

Cut releases (30/50/70/95 %, and exactly after a whole inner ZIP), ZIP64 end records, memory
bounded by bytes in flight (a crafted ZIP of large members, measured in a child process),
parse workers that exit when `adme fetch` is killed with -9, and the one-line errors for a
`--cache` or `--db` that cannot be, and for `--from /dev/zero`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from adme import sources
from adme.cli import app
from adme.fetch import fetch_from_path
from tests.spl_inputs import (
    inner_zip,
    relabelled,
    sample_files,
    write_release,
    write_zip_of_copies,
)

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str):
    return CliRunner().invoke(app, [*args])


def rows(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "documents": con.execute(
                "SELECT document_id, source FROM documents ORDER BY document_id"
            ).fetchall(),
            "paragraphs": con.execute("SELECT count(*) FROM paragraphs").fetchall(),
            "rejects": con.execute("SELECT source, reason FROM rejects ORDER BY 1, 2").fetchall(),
        }


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A DailyMed-shaped release (stored inner ZIPs) of the sample's labels."""
    path = tmp_path_factory.mktemp("release") / "dm_spl_release_human_rx_part1.zip"
    return write_release(path, [f.read_bytes() for f in sample_files(23)])


@pytest.mark.parametrize("percent", [30, 50, 70, 95])
def test_cut_release_is_refused_on_one_line_and_stored_rows_survive(
    release, sample_db, tmp_path, percent
):
    data = release.read_bytes()
    cut = tmp_path / "dm_spl_release_human_rx_part1.zip"
    cut.write_bytes(data[: len(data) * percent // 100])
    before = rows(sample_db)

    result = cli("fetch", "--from", str(cut), "--db", str(sample_db), "--no-progress")

    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("rejected:")]
    assert line.startswith(f"rejected: {cut}: truncated ZIP: no end-of-central-directory")
    assert "fetched 0," in result.stdout
    after = rows(sample_db)
    assert after["documents"] == before["documents"]  # nothing misattributed, nothing lost
    assert after["paragraphs"] == before["paragraphs"]
    assert [r for r in after["rejects"] if r not in before["rejects"]] == [
        (str(cut), line.split(f"{cut}: ", 1)[1])
    ]


def test_release_cut_right_after_a_whole_inner_zip_is_refused(release, tmp_path):
    # The worst cut: the file ends with a complete inner ZIP's end record, which zipfile alone
    # takes for the release's own and reads as one label named like the release.
    with zipfile.ZipFile(release) as archive:
        info = archive.infolist()[10]
    data = release.read_bytes()
    header = 30 + len(info.filename.encode())  # no extra field in zipfile's local headers
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: info.header_offset + header + info.compress_size])
    assert zipfile.ZipFile(cut).namelist()  # zipfile on its own is fooled

    (item,) = sources.iter_spl(cut)
    assert isinstance(item, sources.Reject)
    assert item.reason.startswith("truncated or damaged ZIP: the central directory")


def test_zip64_end_records_and_archive_comments_are_read(tmp_path, monkeypatch):
    xmls = [f.read_bytes() for f in sample_files(3)]
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # makes zipfile write ZIP64 ends
    path = write_release(tmp_path / "zip64.zip", xmls)
    monkeypatch.undo()
    assert b"PK\x06\x06" in path.read_bytes()[-200:]
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"a release comment"
    items = list(sources.iter_spl(path))
    assert sorted(i.data for i in items) == sorted(xmls)

    data = path.read_bytes()
    path.write_bytes(data[:-30])  # cut inside the end records
    (item,) = sources.iter_spl(path)
    assert isinstance(item, sources.Reject) and "ZIP" in item.reason


def test_damaged_inner_zip_is_one_reject_and_the_other_labels_are_stored(tmp_path):
    xmls = [f.read_bytes() for f in sample_files(3)]
    broken = inner_zip(xmls[1])[:-10]
    path = tmp_path / "release.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("prescription/a.zip", inner_zip(xmls[0]))
        archive.writestr("prescription/b.zip", broken)
        archive.writestr("prescription/c.zip", inner_zip(xmls[2]))
    items = list(sources.iter_spl(path))
    assert [i.data for i in items if isinstance(i, sources.RawSpl)] == [xmls[0], xmls[2]]
    (reject,) = [i for i in items if isinstance(i, sources.Reject)]
    assert reject.source == f"{path}!prescription/b.zip"
    assert reject.reason.startswith("truncated ZIP")


# Peak RSS from VmHWM, not getrusage: ru_maxrss survives exec, so a child spawned by a large
# pytest process reports the parent's peak (CI saw 804 MB for a run that peaks near 300).
CHILD = """
import json, sys
from adme.fetch import fetch_from_path
if __name__ == "__main__":
    summary = fetch_from_path(sys.argv[1], sys.argv[2], sys.argv[3], False,
                              threads=int(sys.argv[4]), keep_xml=sys.argv[5] == "1")
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"peak_mb": peak, "rejected": summary.rejected}))
"""


@pytest.mark.slow
def test_memory_is_bounded_by_bytes_in_flight_not_by_label_count(tmp_path):
    # 10 members of 60 MB (under the 64 MiB cap): 4 threads used to hold 32 labels in flight,
    # here all 10 (~800 MB peak); bounded by bytes, a run holds about two.
    label = sample_files(1)[0].read_bytes()
    big = label * (60 * 1024 * 1024 // len(label))
    crafted = write_zip_of_copies(tmp_path / "crafted.zip", big, 10)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "m.duckdb"), str(crafted)]
        + [str(tmp_path / "cache"), "4", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["rejected"] == 10  # a label repeated is not one XML document
    assert result["peak_mb"] < 500, result


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[-1].split()
            if fields[0] != b"Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != b"Z"


@pytest.mark.slow
def test_parse_workers_exit_when_fetch_is_killed(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    originals = [f.read_bytes() for f in sample_files()]
    for i in range(400):
        (folder / f"l{i:04d}.xml").write_bytes(relabelled(originals[i % len(originals)], i))
    run = subprocess.Popen(
        [sys.executable, "-m", "adme.cli", "fetch", "--from", str(folder), "--db"]
        + [str(tmp_path / "a.duckdb"), "--parse-workers", "2", "--batch-size", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(descendants(run.pid)) < 3:  # forkserver + 2 workers
            assert time.monotonic() < deadline and run.poll() is None, "workers never started"
            time.sleep(0.05)
        assert run.stderr.readline().startswith(b"committed: ")  # the workers are at work
        workers = descendants(run.pid)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        # The pipe closes only when every process holding it (workers included) has exited:
        # this is `adme fetch ... | tee log` not hanging.
        deadline = time.monotonic() + 20
        while True:
            ready, _, _ = select.select([run.stdout], [], [], max(0, deadline - time.monotonic()))
            assert ready, f"still holding stdout: {[p for p in workers if alive(p)]}"
            if not os.read(run.stdout.fileno(), 65536):
                break
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers):
            assert time.monotonic() < deadline, "parse workers outlived their parent"
            time.sleep(0.05)
    finally:  # on failure, leave no orphan behind
        for pid in [run.pid, *workers, *descendants(run.pid)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_cache_that_is_a_file_is_one_line_before_any_work(sample_db, tmp_path):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("x")
    before = rows(sample_db)
    for cache in (not_a_folder, not_a_folder / "sub"):
        result = cli(
            "fetch", "--from", str(ROOT / "data" / "new"), "--db", str(sample_db),
            "--cache", str(cache), "--keep-xml", "--no-progress",
        )  # fmt: skip
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: --cache {cache}: cannot be the cache folder: {not_a_folder} is a file\n"
        )
    assert rows(sample_db) == before
    # Without --keep-xml the cache is not used, so the labels are stored.
    result = cli(
        "fetch", "--from", str(ROOT / "data" / "new"), "--db", str(sample_db),
        "--cache", str(not_a_folder), "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(rows(sample_db)["documents"]) > len(before["documents"])


def test_db_below_a_file_is_one_line(tmp_path):
    (tmp_path / "a").write_text("x")
    db = tmp_path / "a" / "sub" / "x.duckdb"
    result = cli("fetch", "--from", str(ROOT / "data" / "new"), "--db", str(db), "--no-progress")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {db}: cannot create its folder {db.parent}: Not a directory\n"
    )


def test_dev_zero_is_one_reject_with_a_size_cap_and_good_labels_are_stored(tmp_path):
    db = tmp_path / "a.duckdb"
    result = cli("fetch", "--from", "/dev/zero", "--db", str(db), "--no-progress")
    assert result.exit_code == 1
    assert result.stderr == (
        f"rejected: /dev/zero: file larger than {sources.MAX_MEMBER_BYTES} bytes: "
        "not an SPL label\n"
    )
    assert rows(db)["rejects"] == [("/dev/zero", result.stderr.split(": ", 2)[2].strip())]
    # the same cap where parse processes read the files themselves
    folder = tmp_path / "in"
    folder.mkdir()
    for f in sample_files(3):
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "huge.xml").write_bytes(b"<" + b" " * sources.MAX_MEMBER_BYTES + b">")
    summary = fetch_from_path(db, folder, tmp_path / "c", False, parse_workers=2)
    assert summary.fetched == 3
    assert summary.rejects == [
        (str(folder / "huge.xml"), f"file larger than {sources.MAX_MEMBER_BYTES} bytes: "
         "not an SPL label")
    ]  # fmt: skip


def test_ingest_caps_duckdb_memory(tmp_path):
    # DuckDB caches written blocks up to 80% of RAM by default: a 3.2 GB release part took
    # adme to 1.7 GB RSS (benchmarks/release.py); an ingest only appends, so it runs capped.
    from adme.fetch import INGEST_DUCKDB_MEMORY, _ingesting

    with _ingesting(tmp_path / "a.duckdb", tmp_path / "c", False, None, "x", 10) as ing:
        limit = ing.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert INGEST_DUCKDB_MEMORY == "256MB" and limit in ("244.1 MiB", "256.0 MB", "256MB")
