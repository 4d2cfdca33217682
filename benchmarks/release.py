"""Release scale, end to end: a synthetic DailyMed release part served from 127.0.0.1 (not a test).

    nice -n 10 python benchmarks/release.py [--labels ../shared/spl/labels] [--count 9000]
        [--size-mb 3200] [--update-count 50] [--report-labels 40000] [--interrupt]

1. Builds one release part the size of a real one (default ~3.2 GB, ~9,000 labels, as
   `dm_spl_release_human_rx_part1.zip`): the labels of `--labels` copied under new set ids,
   each in an inner ZIP with its XML deflated and an incompressible "image" stored beside it,
   the images sized so the part reaches `--size-mb`. While building, it times bare `lxml`
   (one core, adme's parser settings) on every XML: the baseline of this same run.
2. Serves the resources page, the part and a small daily update from a file-backed HTTP server
   on 127.0.0.1 (Range supported), and runs `adme fetch --release human-rx` in a child process
   with the options a user gets by default, then `adme fetch --updates`. Prints download and
   ingest wall time, ingest throughput as a ratio of bare parsing (goal >= 0.7), the peak RSS
   of adme (its main process, and all its processes together; goal < 1 GB), and the database
   size per 1,000 labels.
3. Copies the database, duplicates its documents under new ids with SQL until it holds
   `--report-labels` labels (plus two models' predictions and a split), and times every
   shipped report (goal < 2 s each).
4. With `--interrupt`: the same release into a second database, `kill -9` half way through the
   ingest, the same command again, and a check that every table ends equal to the first run's.

Step 3 alone, on a database already ingested (e.g. `adme fetch --from ../shared/spl/labels`):

    nice -n 10 python benchmarks/release.py --reports-only data/adme.duckdb [--report-labels 40000]

copies it, grows the copy to `--report-labels` labels and times every report (the original
is not changed).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adme import reports  # noqa: E402
from adme.spl import PARSER_OPTIONS  # noqa: E402

PAGE = "/dailymed/spl-resources-all-drug-labels.cfm"
PART = "dm_spl_release_human_rx_part1.zip"
UPDATE = "dm_spl_daily_update_08052026.zip"
LAST_MODIFIED = "Mon, 03 Aug 2026 10:00:00 GMT"
MB = 1024 * 1024


# --- the synthetic release -------------------------------------------------------------------


def relabelled(xml: bytes, seed: int, version_step: int = 0) -> bytes:
    """A label under a new document id and set id (or its next version with `version_step`)."""
    new_id = str(uuid.UUID(int=seed * 2 + 1)).encode()
    xml = re.sub(rb'(<document[^>]*>\s*<id root=")[^"]+', rb"\g<1>" + new_id, xml, count=1)
    if version_step:
        return re.sub(
            rb'<versionNumber value="(\d+)"',
            lambda m: b'<versionNumber value="%d"' % (int(m.group(1)) + version_step),
            xml,
            count=1,
        )
    new_set = str(uuid.UUID(int=seed * 2 + 2)).encode()
    return re.sub(rb'(<setId root=")[^"]+', rb"\g<1>" + new_set, xml, count=1)


def inner_zip(xml: bytes, image: bytes) -> bytes:
    """One label as DailyMed packs it: the XML deflated, an image stored."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("label.xml", (2026, 8, 1, 0, 0, 0)), xml, zipfile.ZIP_DEFLATED, 1
        )
        archive.writestr(zipfile.ZipInfo("image.jpg", (2026, 8, 1, 0, 0, 0)), image)
    return buffer.getvalue()


class Built:
    """What was written: labels, XML bytes, and the bare-parse seconds over that XML."""

    def __init__(self) -> None:
        self.labels = 0
        self.xml_bytes = 0
        self.parse_seconds = 0.0


def build_release(
    labels: list[bytes], count: int, size: int, path: Path, seed0: int = 0, update: bool = False
) -> Built:
    """Write a release (or, with `update`, next versions of its first labels) of `count` labels.

    Images pad each inner ZIP so the file reaches about `size` bytes.
    """
    noise = os.urandom(4 * MB)  # incompressible, like JPEG
    parser = etree.XMLParser(**PARSER_OPTIONS)
    built = Built()
    written = deflated = 0  # bytes written so far; the last inner ZIP without its image
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as release:
        for i in range(count):
            seed = seed0 + i
            xml = relabelled(labels[i % len(labels)], seed)
            if update:  # the next version of the release's label `seed`
                xml = relabelled(xml, 10**7 + seed, version_step=1)
            start = time.perf_counter()
            etree.fromstring(xml, parser)
            built.parse_seconds += time.perf_counter() - start
            pad = max(0, (size - written) // (count - i) - deflated - 200)
            if pad <= len(noise):
                offset = (seed * 7919) % (len(noise) - pad + 1)
                image = noise[offset : offset + pad]
            else:
                image = (noise * (pad // len(noise) + 1))[:pad]
            data = inner_zip(xml, image)
            deflated = len(data) - len(image)
            setid = re.search(rb'<setId root="([^"]+)"', xml).group(1).decode()
            release.writestr(f"prescription/20260801_{setid}.zip", data)
            written += len(data) + 120
            built.labels += 1
            built.xml_bytes += len(xml)
    return built


# --- a file-backed server ---------------------------------------------------------------------


def serve(folder: Path) -> ThreadingHTTPServer:
    """The resources page linking every ZIP in `folder`, and those files with Range support."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            """Quiet."""

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            if self.path == PAGE:
                links = "".join(
                    f'<li><a href="../files/{p.name}">{p.name}</a></li>'
                    for p in sorted(folder.glob("*.zip"))
                )
                body = f"<html><body><ul>{links}</ul></body></html>".encode()
                self._head(200, len(body), {"Content-Type": "text/html"})
                if not head:
                    self.wfile.write(body)
                return
            path = folder / self.path.rsplit("/", 1)[-1]
            if not self.path.startswith("/files/") or not path.is_file():
                self._head(404, 0, {})
                return
            size = path.stat().st_size
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            start = int(match.group(1)) if match else 0
            headers = {"Last-Modified": LAST_MODIFIED, "Accept-Ranges": "bytes"}
            if match:
                headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
            self._head(206 if match else 200, size - start, headers)
            if head:
                return
            with path.open("rb") as handle:
                handle.seek(start)
                try:
                    while chunk := handle.read(MB):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        def _head(self, status: int, length: int, headers: dict) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- running adme and watching its memory --------------------------------------------------


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS of `pid`, RSS of `pid` and every process below it), in bytes, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0"))
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    family, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - family
        family |= frontier
    return rss.get(pid, 0), sum(rss.get(p, 0) for p in family)


class Run:
    """`adme fetch ...` in a child process: wall time, when the download ended, peak RSS."""

    def __init__(self, args: list[str], kill_after_commits: int | None = None):
        self.args = args
        self.kill_after = kill_after_commits
        self.download_done: float | None = None
        self.peak_main = self.peak_all = 0
        self.lines: list[str] = []

    def run(self) -> Run:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "adme.cli", "fetch", *self.args]
        start = time.perf_counter()
        child = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                main, total = tree_rss(child.pid)
                self.peak_main, self.peak_all = max(self.peak_main, main), max(self.peak_all, total)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        commits = 0
        for line in child.stderr:
            self.lines.append(line.rstrip())
            if line.startswith("downloaded ") and self.download_done is None:
                self.download_done = time.perf_counter() - start
            if line.startswith("committed: "):
                commits += 1
                if self.kill_after is not None and commits >= self.kill_after:
                    child.send_signal(signal.SIGKILL)
                    break
        self.stdout = child.stdout.read()
        child.wait()
        done.set()
        sampler.join()
        self.returncode = child.returncode
        self.seconds = time.perf_counter() - start
        if self.kill_after is None and self.returncode != 0:
            raise SystemExit(f"adme fetch failed ({self.returncode}): {self.lines[-5:]}")
        return self


# --- reports on a large database ------------------------------------------------------------


def grow(db: Path, target: int) -> int:
    """Duplicate the stored labels under new ids until there are `target`; add predictions of
    two models and a split, so every report has rows to read. Returns the label count."""
    with duckdb.connect(str(db)) as con:
        labels = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        tables = [
            t
            for (t,) in con.execute(
                "SELECT DISTINCT table_name FROM duckdb_columns() "
                "WHERE column_name = 'document_id' AND NOT internal "
                "AND table_name IN (SELECT table_name FROM duckdb_tables())"
            ).fetchall()
        ]
        copies = max(0, -(-target // max(labels, 1)) - 1)
        for k in range(1, copies + 1):
            con.execute("BEGIN")
            for table in tables:
                columns = {
                    c
                    for (c,) in con.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
                    ).fetchall()
                }
                renamed = [
                    f"{c} || '-copy{k}' AS {c}"
                    for c in ("document_id", "set_id", "paragraph_id")
                    if c in columns
                ]
                con.execute(
                    f"INSERT INTO {table} SELECT * REPLACE ({', '.join(renamed)}) FROM {table} "
                    "WHERE NOT contains(document_id, '-copy')"
                )
            con.execute("COMMIT")
        classes = "['absorption','distribution','metabolism','excretion','other']"
        # Models that agree with the rule on 9 paragraphs in 10 (as trained ones do), and pick
        # a class by hash where the rule gives none.
        for model, shift in (("bench-a@0", 0), ("bench-b@0", 1)):
            pick = f"{classes}[(1 + (hash(paragraph_id) + {shift}) % 5)::BIGINT]"
            con.execute(
                f"""
                INSERT INTO predictions (paragraph_id, model_id, label, confidence, probs)
                SELECT paragraph_id, '{model}',
                       CASE WHEN rule_label IS NOT NULL
                                 AND (hash(paragraph_id) + {shift}) % 10 <> 0
                            THEN rule_label ELSE {pick} END,
                       0.2 + ((hash(text_hash) % 80)::DOUBLE) / 100,
                       map({classes}, [0.2, 0.2, 0.2, 0.2, 0.2])
                FROM paragraphs
                """
            )
        con.execute(
            "INSERT INTO splits (split_name, params, classes, folded) "
            f"VALUES ('bench', '{{}}', {classes}, 0)"
        )
        con.execute(
            """
            INSERT INTO split_rows
            SELECT 'bench', paragraph_id,
                   CASE WHEN (hash(text_hash) % 100)::BIGINT < 15 THEN 'test' ELSE 'train' END,
                   rule_label
            FROM paragraphs WHERE rule_label IS NOT NULL
            """
        )
        con.execute("CHECKPOINT")
        return con.execute("SELECT count(*) FROM documents").fetchone()[0]


REPORT_PARAMS = {
    "disagreements": {"model_id": "bench-a@0"},
    "labels_by_ingredient": {"ingredient": "ibuprofen"},
    "reference_vs_generics": {"ingredient": "ibuprofen"},
    "model_compare": {"model_a": "bench-a@0", "model_b": "bench-b@0"},
    "plot_confidence": {"model_id": "bench-a@0"},
    "plot_confusion": {"run_id": "none"},
    "plot_split_balance": {"split": "bench"},
    "review_queue": {"model_id": "bench-a@0"},
    "sweep_summary": {"sweep": "none"},
}


def process_cpu() -> float:
    """CPU seconds this process has used, all its threads (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_reports(db: Path) -> list[tuple[str, float, float, int]]:
    """(report, wall seconds, CPU seconds, rows) for every shipped report: the median of three
    warm runs. The CPU time is what the report costs whatever else loads the machine."""
    results = []
    for name, _ in reports.list_reports():
        params = REPORT_PARAMS.get(name, {})
        reports.run_report(db, name, params)  # warm the file cache
        runs = []
        for _ in range(3):
            start, cpu = time.perf_counter(), process_cpu()
            _, rows = reports.run_report(db, name, params)
            runs.append((time.perf_counter() - start, process_cpu() - cpu))
        wall, cpu = sorted(runs)[1]
        results.append((name, wall, cpu, len(rows)))
    return results


def time_reports_on(db: Path, big: Path, labels: int) -> None:
    """Copy DB to BIG, grow it to LABELS labels, time every report; print one line each."""
    shutil.copyfile(db, big)
    start = time.perf_counter()
    total = grow(big, labels)
    grown = time.perf_counter() - start
    print(f"reports on {total} labels (copies made with SQL in {grown:.0f} s), load {load()}:")
    timings = time_reports(big)
    for name, seconds, cpu, rows in timings:
        print(f"  {name:22s} {seconds:6.2f} s  (CPU {cpu:5.2f} s)  {rows:>8} rows")
    slowest = max(timings, key=lambda t: t[1])
    print(f"slowest report: {slowest[0]} {slowest[1]:.2f} s (goal < 2 s each); load {load()}")


def load() -> str:
    """The 1-minute load average: other work on the machine stretches every timing."""
    return f"{os.getloadavg()[0]:.1f}"


def table_digests(db: Path) -> dict[str, tuple]:
    """Row count and an order-free hash of every table a fetch writes (timestamps excluded)."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table, drop in (
            ("documents", "EXCLUDE (fetched_at)"),
            ("paragraphs", ""),
            ("products", ""),
            ("ingredients", ""),
            ("rejects", "EXCLUDE (rejected_at)"),
            ("releases", "EXCLUDE (applied_at)"),
        ):
            exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
            ).fetchone()[0]
            if exists:
                out[table] = con.execute(
                    f"SELECT count(*), sum(hash(t)::HUGEINT) FROM (SELECT * {drop} FROM {table}) t"
                ).fetchone()
    return out


# --- main ----------------------------------------------------------------------------------


def default_labels() -> str:
    """../shared/spl/labels beside the checkout (or beside a worktree's parent), else data/spl."""
    for up in (ROOT.parent, ROOT.parent.parent):
        if (up / "shared" / "spl" / "labels").is_dir():
            return str(up / "shared" / "spl" / "labels")
    return str(ROOT / "data" / "spl")


def main() -> None:
    """Build, serve, fetch, update, time the reports; one line per number."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--labels", default=default_labels(), help="folder of real SPL XML")
    options.add_argument("--count", type=int, default=9000, help="labels in the part")
    options.add_argument("--size-mb", type=int, default=3200, help="size of the part")
    options.add_argument("--update-count", type=int, default=50, help="labels in the update")
    options.add_argument("--report-labels", type=int, default=40000)
    options.add_argument("--interrupt", action="store_true", help="also kill -9 and rerun")
    options.add_argument("--work", default=None, help="folder for the files (default: temp)")
    options.add_argument(
        "--reports-only",
        metavar="DB",
        default=None,
        help="only step 3: grow a copy of this ingested database and time the reports",
    )
    args = options.parse_args()
    if args.reports_only:
        work = Path(tempfile.mkdtemp(prefix="adme-reports-", dir=args.work))
        try:
            time_reports_on(Path(args.reports_only), work / "big.duckdb", args.report_labels)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    labels = [p.read_bytes() for p in sorted(Path(args.labels).rglob("*.xml"))]
    work = Path(tempfile.mkdtemp(prefix="adme-release-", dir=args.work))
    try:
        files = work / "files"
        files.mkdir()
        start = time.perf_counter()
        built = build_release(labels, args.count, args.size_mb * 1000 * 1000, files / PART)
        update = build_release(labels, args.update_count, 0, files / UPDATE, update=True)
        size = (files / PART).stat().st_size
        print(
            f"built {PART}: {size / 1e9:.2f} GB, {built.labels} labels, "
            f"{built.xml_bytes / 1e9:.2f} GB of XML ({time.perf_counter() - start:.0f} s); "
            f"update: {update.labels} new versions; {os.cpu_count()} cores"
        )
        bare = built.xml_bytes / 1e6 / built.parse_seconds
        print(
            f"bare lxml parse of the same XML: {bare:.1f} MB/s "
            f"(one core, {built.parse_seconds:.1f} s)"
        )

        server = serve(files)
        url = f"http://127.0.0.1:{server.server_port}{PAGE}"
        common = ["--release-url", url, "--rate", "100"]
        db, cache = work / "adme.duckdb", work / "cache"
        first = Run(
            ["--release", "human-rx", *common, "--db", str(db), "--cache", str(cache)]
        ).run()
        download = first.download_done or 0.0
        ingest = first.seconds - download
        print(
            f"fetch --release human-rx: {first.seconds:.1f} s wall = download "
            f"{download:.1f} s ({size / 1e6 / max(download, 1e-9):.0f} MB/s over 127.0.0.1) "
            f"+ ingest {ingest:.1f} s"
        )
        print(
            f"ingest throughput: {built.xml_bytes / 1e6 / ingest:.1f} MB/s of XML, "
            f"ratio to bare parse {built.parse_seconds / ingest:.2f} (goal >= 0.7, default engine)"
        )
        print(
            f"peak RSS: adme {first.peak_main / 1e6:.0f} MB; adme and its parse processes "
            f"together {first.peak_all / 1e6:.0f} MB (goal < 1 GB)"
        )
        print(f"  {first.stdout.strip().splitlines()[0]}")
        second = Run(["--updates", *common, "--db", str(db), "--cache", str(cache)]).run()
        print(f"fetch --updates: {second.seconds:.1f} s; {second.stdout.strip().splitlines()[0]}")
        with duckdb.connect(str(db), read_only=True) as con:
            stored = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        db_size = db.stat().st_size
        print(
            f"database: {db_size / 1e6:.0f} MB for {stored} labels = "
            f"{db_size / 1e6 / stored * 1000:.0f} MB per 1,000 labels"
        )
        left = sorted(p.name for p in (cache / "releases").glob("*")) if cache.exists() else []
        print(f"downloads left in the cache: {left or 'none'}")

        if args.interrupt:
            again, cache2 = work / "interrupted.duckdb", work / "cache2"
            batch = max(2, built.labels // 20)
            cut = Run(
                ["--release", "human-rx", *common, "--db", str(again), "--cache", str(cache2)]
                + ["--batch-size", str(batch)],
                kill_after_commits=10,
            ).run()
            with duckdb.connect(str(again), read_only=True) as con:
                partial = con.execute("SELECT count(*) FROM documents").fetchone()[0]
            Run(
                ["--release", "human-rx", *common, "--db", str(again), "--cache", str(cache2)]
            ).run()
            Run(["--updates", *common, "--db", str(again), "--cache", str(cache2)]).run()
            same = table_digests(again) == table_digests(db)
            print(
                f"kill -9 after {partial} of {built.labels} labels (exit {cut.returncode}), "
                f"rerun: every table equal to the uninterrupted run's: {same}"
            )
            if not same:
                raise SystemExit("interrupted run differs")

        time_reports_on(db, work / "big.duckdb", args.report_labels)
        server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
