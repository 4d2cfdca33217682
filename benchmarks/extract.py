"""Ingest speed against bare lxml, and peak memory on a large bulk release ZIP (not a test).

    python benchmarks/extract.py [LABEL_FOLDER] [--copies 20] [--zip-mb 50 200]
                                 [--threads 1 4] [--parse-workers 2]

1. Throughput, on the same files: `lxml.etree.parse` alone, then `fetch_from_path` into a fresh
   DuckDB file (hash, parse, extract, write) on each of `--threads` thread counts, with
   `--parse-workers` processes, and with `--keep-xml` (also copying every XML into the cache),
   each with its ratio to bare parse (goal >= 0.7) and the CPU seconds it used. The folder's
   labels are copied `--copies` times with new ids so every copy is a distinct label to store.
2. Peak RSS of a child process ingesting a DailyMed-shaped release ZIP (ZIP of inner ZIPs)
   built from the same labels repeated to each size in `--zip-mb` (goal: < 1 GB, flat), with
   the default thread count.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adme.fetch import DEFAULT_THREADS, fetch_from_path  # noqa: E402
from adme.spl import PARSER_OPTIONS  # noqa: E402


def relabelled(xml: bytes, seed: int) -> bytes:
    """A copy of a label with a new document id and set id, so it is stored, not skipped."""
    new_id = str(uuid.UUID(int=seed * 2 + 1)).encode()
    new_set = str(uuid.UUID(int=seed * 2 + 2)).encode()
    xml = re.sub(rb'(<document[^>]*>\s*<id root=")[^"]+', rb"\g<1>" + new_id, xml, count=1)
    return re.sub(rb'(<setId root=")[^"]+', rb"\g<1>" + new_set, xml, count=1)


def write_copies(labels: list[bytes], copies: int, folder: Path) -> int:
    """Write every label `copies` times (distinct ids) into `folder`; return the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(copies * len(labels)):
        data = (
            labels[i % len(labels)] if i < len(labels) else relabelled(labels[i % len(labels)], i)
        )
        (folder / f"label{i:06d}.xml").write_bytes(data)
        total += len(data)
    return total


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread, user and system."""
    times = os.times()
    return times.user + times.system


def bare_parse_seconds(folder: Path) -> float:
    """Time bare lxml on every file, exactly as fetch reads and parses them, nothing else.

    Same files, each read whole from disk, parsed from the bytes (`etree.fromstring`) by one
    reused parser with the settings adme parses labels with, and freed.
    """
    parser = etree.XMLParser(**PARSER_OPTIONS)
    start = time.perf_counter()
    for path in sorted(folder.glob("*.xml")):
        etree.fromstring(path.read_bytes(), parser)
    return time.perf_counter() - start


def write_release(labels: list[bytes], target_mb: int, path: Path) -> tuple[int, int]:
    """A release ZIP of inner ZIPs (XML stored, to build it fast) of about `target_mb` MB."""
    count = written = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as release:
        while written < target_mb * 1024 * 1024:
            xml = relabelled(labels[count % len(labels)], 10_000_000 + count)
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(f"{uuid.UUID(int=count)}.xml", xml)
                archive.writestr("image.jpg", b"\xff\xd8\xff\xe0" * 256)
            name = f"prescription/20240101_{uuid.UUID(int=count + 7)}.zip"
            release.writestr(name, inner.getvalue())
            written += len(inner.getvalue())
            count += 1
    return path.stat().st_size, count


CHILD = """
import json, resource, sys, time
from adme.fetch import fetch_from_path
start = time.perf_counter()
summary = fetch_from_path(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
# VmHWM, not ru_maxrss: ru_maxrss survives exec and reports the spawning process's peak.
peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_kb / 1024,
                  "fetched": summary.fetched, "rejected": summary.rejected,
                  "paragraphs": summary.paragraphs_added}))
"""


def peak_rss(release: Path, work: Path) -> dict:
    """Ingest `release` in a fresh child process and return its time and peak RSS."""
    db, cache = work / f"{release.stem}.duckdb", work / f"{release.stem}-cache"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), str(release), str(cache)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run both measurements and print one line per number."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("folder", nargs="?", default=str(ROOT / "data" / "spl"))
    options.add_argument("--copies", type=int, default=20, help="distinct copies of each label")
    options.add_argument("--zip-mb", type=int, nargs="*", default=[50, 200])
    options.add_argument("--threads", type=int, nargs="*", default=sorted({1, DEFAULT_THREADS}))
    options.add_argument("--parse-workers", type=int, nargs="*", default=[2])
    args = options.parse_args()

    labels = [p.read_bytes() for p in sorted(Path(args.folder).rglob("*.xml"))]
    with tempfile.TemporaryDirectory(prefix="adme-bench-") as tmp:
        work = Path(tmp)
        folder = work / "labels"
        total = write_copies(labels, args.copies, folder)
        mb = total / 1e6
        cores = os.cpu_count()
        print(f"{len(labels)} labels x {args.copies} copies = {mb:.1f} MB of XML, {cores} cores")
        bare_parse_seconds(folder)  # warm the page cache for both runs
        cpu = cpu_seconds()
        bare = bare_parse_seconds(folder)
        cpu = cpu_seconds() - cpu
        print(
            f"bare lxml.etree.parse: {mb / bare:7.1f} MB/s "
            f"({bare:.2f} s, {cpu:.2f} CPU-s, one core)"
        )
        runs = [(f"--threads {n}", {"threads": n}) for n in args.threads]
        runs += [(f"--parse-workers {n}", {"parse_workers": n}) for n in args.parse_workers]
        runs.append((f"--threads {DEFAULT_THREADS} --keep-xml", {"keep_xml": True}))
        for i, (name, options) in enumerate(runs):
            start, cpu = time.perf_counter(), cpu_seconds()
            summary = fetch_from_path(
                work / f"adme-{i}.duckdb", folder, work / f"cache-{i}", False, **options
            )
            full, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            print(
                f"fetch --from {name}: {mb / full:7.1f} MB/s ({full:.2f} s, {cpu:.2f} CPU-s, "
                f"{summary.fetched} labels stored), ratio to bare parse {bare / full:.2f} "
                "(goal >= 0.7)"
            )

        for target in args.zip_mb:
            release = work / f"release-{target}mb.zip"
            size, count = write_release(labels, target, release)
            result = peak_rss(release, work)
            print(
                f"bulk ZIP {size / 1e6:6.0f} MB ({count} labels): peak RSS "
                f"{result['peak_mb']:6.0f} MB, {result['seconds']:.1f} s "
                f"({result['cpu']:.1f} CPU-s incl. start-up), "
                f"{size / 1e6 / result['seconds']:.1f} MB/s, stored {result['fetched']}"
            )
            release.unlink()


if __name__ == "__main__":
    main()
