"""Ingest SPL labels into the database: from disk (`adme fetch --from`) or from DailyMed.

Used by `adme fetch` and by `adme label`, so new labels are stored the same way everywhere.
Labels from DailyMed go to the content-addressed cache first (so a re-run downloads nothing);
labels read from disk are already on disk and are copied there only with `keep_xml`. Documents
and paragraphs are written in batches, one transaction per batch: a kill leaves whole
documents only, and the same command run again skips what is stored and picks up where it
stopped.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import duckdb

from adme import cache, sources, store
from adme.dailymed import DEFAULT_BASE_URL, HUMAN_PRESCRIPTION, DailyMedClient, HttpError, Listed
from adme.errors import AdmeError, SplError, UsageError
from adme.progress import step_bar
from adme.spl import Document, parse_spl
from adme.wording import count

BATCH_SIZE = 100
DEFAULT_THREADS = min(4, os.cpu_count() or 1)
PROCESS_CHUNK = 8  # labels per task sent to a parse process (see `_parse_in_process`)
# Raw XML held at once between reading and storing (labels waiting for a parser, a chunk for
# a process, XML queued for the cache): memory is bounded by bytes, not by a count of labels,
# so a release of unusually large labels cannot take more than this plus one label.
MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024  # a chunk for a parse process is sent once it holds this much
INGEST_DUCKDB_MEMORY = "256MB"  # DuckDB's own memory while ingesting (see `_ingesting`)
# Inputs this large are parsed in processes by default (benchmarks/release.py measures why).
AUTO_PROCESS_BYTES = 256 * 1024 * 1024


@dataclass
class FetchSummary:
    """What one fetch did: counts for the summary line, ids for `adme label`, rejects to show."""

    fetched: int = 0
    skipped: int = 0
    rejected: int = 0
    paragraphs_added: int = 0
    products_filled: int = 0  # stored documents whose products were read on this run
    sections_filled: int = 0  # stored documents whose sections were kept on this run
    document_ids: list[str] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        """One-line summary printed at the end of `adme fetch`."""
        line = (
            f"fetched {self.fetched}, skipped {self.skipped} already stored, "
            f"rejected {self.rejected}, paragraphs added {self.paragraphs_added}"
        )
        if self.products_filled:
            line += f", products read for {count(self.products_filled, 'stored document')}"
        if self.sections_filled:
            line += f", sections kept for {count(self.sections_filled, 'stored document')}"
        return line


def parse_or_fault(
    data: bytes, source: str, sha256: str | None = None, sections: bool = False
) -> Document | str:
    """The parsed document, or the one-line fault that makes it a reject.

    Module-level so a process pool can run it; a parser bug becomes a reject too, so one odd
    label never stops a release of thousands. `sha256` is the digest the caller already took;
    `sections` also reads every section's text (`fetch --sections`).
    """
    try:
        return parse_spl(data, source, sha256, sections)
    except SplError as exc:
        return exc.fault
    except Exception as exc:
        return f"parser failed: {type(exc).__name__}: {exc}"


def _hash_and_parse(
    data: bytes, source: str, known: Container[str], sections: bool
) -> tuple[str, Document | str | None]:
    """Run on a parse thread or process: the digest of `data`, and its parse unless `known`
    holds it.

    `known` is the ingest's digest -> document_id map on a thread, only read here (the main
    thread alone writes it, and re-checks the digest when it takes the result, in input
    order); in a process, the digests stored when the pool started.
    """
    digest = cache.sha256_of(data)
    if digest in known:
        return digest, None
    return digest, parse_or_fault(data, source, digest, sections)


# Digests stored when a parse process started (set by `_known_at_start`), so a process that
# reads a label file itself skips parsing one already stored, as parse threads do.
_stored_at_start: frozenset[str] = frozenset()


def _known_at_start(digests: frozenset[str], parent_pid: int) -> None:
    """Pool initializer: the digests already stored, and a watch on the parent process.

    A parse process must not outlive `adme fetch`: killed with -9, the parent cannot tell its
    workers to stop, and they (and the forkserver, which they keep alive) would wait forever
    on their task queue, holding the terminal's stdout (`adme fetch ... | tee log` hangs).
    Ctrl-C is left to `adme fetch` alone: a terminal sends SIGINT to every process of the
    group, and a parse process it reached would print a KeyboardInterrupt traceback per
    worker over the one "interrupted" line; the parent cancels what is queued and the workers
    end when the pool shuts down.
    """
    global _stored_at_start
    _stored_at_start = digests
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Run on a daemon thread of a parse process: end the process once `parent_pid` is gone.

    Polled by process id: the process that started the pool is the forkserver, not `adme`.
    """
    while _alive(parent_pid):
        time.sleep(interval)
    os._exit(1)


def _alive(pid: int) -> bool:
    """True while a process with this id exists (and is not a zombie we could see)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def _read_hash_and_parse(path: str, sections: bool) -> tuple[str | None, Document | str | None]:
    """Run in a parse process: read one XML file, hash it, parse it unless already stored.

    Reading and hashing here keeps the file's bytes out of the main process (no copy through
    a pipe, no hashing on the thread that writes). Returns (None, fault) when the file cannot
    be read, with the reason `sources` gives for it.
    """
    data = sources.read_label_file(Path(path))
    if isinstance(data, sources.Reject):
        return None, data.reason
    return _hash_and_parse(data, path, _stored_at_start, sections)


def _unpack_hash_and_parse(
    packed: sources.InnerZip, sections: bool
) -> list[tuple[str, str | None, Document | str | None]]:
    """Run in a parse process: the labels of an inner ZIP as `_read_hash_and_parse` gives one
    file's, each with its source: reading it (`InnerZip.labels`), inflating and hashing the XML
    are done here too."""
    return [
        (item.source, None, item.reason)
        if isinstance(item, sources.Reject)
        else (item.source, *_hash_and_parse(item.data, item.source, _stored_at_start, sections))
        for item in packed.labels()
    ]


def _parse_in_process(
    tasks: list[str | sources.InnerZip | tuple[bytes, str, str]], sections: bool
) -> list[tuple | list | Document | str]:
    """Run in a parse process: one result per task, in order (a chunk of labels per call).

    A task is a path (read, hashed and parsed here: `_read_hash_and_parse`), an inner ZIP
    (`_unpack_hash_and_parse`), or the (data, source, digest) of a label this process only
    parses (`parse_or_fault`). Several labels per call spare the pool's per-call cost
    (pickling, its queues, one future each).
    """
    results = []
    for task in tasks:
        if isinstance(task, str):
            results.append(_read_hash_and_parse(task, sections))
        elif isinstance(task, sources.InnerZip):
            results.append(_unpack_hash_and_parse(task, sections))
        else:
            results.append(parse_or_fault(*task, sections=sections))
    return results


def _files_for_processes(
    files: list[Path],
    names: dict[Path, str] | None = None,
    keep: sources.MemberFilter | None = None,
) -> Iterator[Path | sources.Item | sources.InnerZip]:
    """The input for parse processes: a plain .xml file as its path (the process reads it), a
    ZIP's inner ZIPs packed (the process unpacks them), anything else as the items `sources`
    reads, in input order."""
    for file in files:
        if file.name.lower().endswith(".xml"):
            yield file
        else:
            yield from sources.iter_files([file], names, keep, unpack=False)


class _Progress:
    """A rich bar on a terminal; elsewhere (logs, pipes) one line per committed batch."""

    def __init__(self, enabled: bool, total: int | None, label: str):
        self.enabled = enabled
        self.total = total
        self.label = label
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        if self.enabled and sys.stderr.isatty():
            self.bar = step_bar(True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self) -> None:
        """One input handled (stored, skipped or rejected)."""
        if self.bar is not None:
            self.bar.advance(self.task)

    def committed(self, summary: FetchSummary) -> None:
        """A batch was committed; say so in plain text when there is no bar."""
        if self.enabled and self.bar is None:
            print(f"committed: {summary.line()}", file=sys.stderr, flush=True)


class _Ingest:
    """Skip what is stored, parse the rest, cache raw XML (`keep_xml`), write in batches.

    Cache files and database batches are written by one background thread, in the order they
    were queued, while this thread reads and parses the next labels: a batch is committed only
    after the cache holds every file it names, and at most one batch waits to be written.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        cache_dir: Path,
        progress: _Progress,
        batch_size: int = BATCH_SIZE,
        keep_xml: bool = True,
        sections: bool = False,
    ):
        self.con = con
        self.cache_dir = Path(cache_dir)
        self.keep_xml = keep_xml
        self.sections = sections  # also read and store every section's text
        self.progress = progress
        self.batch_size = max(1, batch_size)
        # Documents stored before adme read products, or (with `sections`) stored without
        # their sections, are parsed again when met, to fill those in (store.fill_products,
        # fill_sections); so their digests do not count as stored.
        self.unscanned = {row[0] for row in store.documents_to_fill(con, sections)}
        self.by_hash = {
            h: d for h, d in store.document_ids_by_hash(con).items() if d not in self.unscanned
        }
        self.by_version = store.document_ids_by_version(con)
        self.old_rejects = store.stored_rejects(con)
        self.summary = FetchSummary()
        self.batch: list[Document] = []
        self.backfill: list[Document] = []  # stored documents whose products to fill in
        self.pending_rejects: list[tuple[str, str]] = []
        self._seen_ids: set[str] = set()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adme-writer")
        self._cache_writes: list[Future] = []
        self._cache_bytes = 0  # raw XML queued for the cache with this batch
        self._commit: Future | None = None

    def _note_id(self, document_id: str) -> None:
        if document_id not in self._seen_ids:
            self._seen_ids.add(document_id)
            self.summary.document_ids.append(document_id)

    def stored_version(self, set_id: str, version: int) -> str | None:
        """document_id of this version when it is stored (or queued), else None."""
        return self.by_version.get((set_id, version))

    def skip(self, document_id: str) -> None:
        """Count an input whose document is already stored."""
        self.summary.skipped += 1
        self._note_id(document_id)
        self.progress.advance()

    def reject(self, source: str, reason: str) -> None:
        """Record an input that cannot be stored; the run goes on."""
        self.summary.rejected += 1
        self.summary.rejects.append((source, reason))
        if (source, reason) not in self.old_rejects:
            self.old_rejects.add((source, reason))
            self.pending_rejects.append((source, reason))
        self.progress.advance()

    def is_stored(self, digest: str) -> bool:
        """True (and counted as skipped) when these exact bytes are already stored."""
        if digest in self.by_hash:
            self.skip(self.by_hash[digest])
            return True
        return False

    def add(self, source: str, data: bytes, digest: str | None = None) -> None:
        """Parse and queue one raw XML unless its bytes or its version are already stored.

        `digest` is the sha256 of `data` when the caller already has it (hashed once only).
        """
        digest = digest or cache.sha256_of(data)
        if not self.is_stored(digest):
            self.accept(source, data, digest, self.parse(data, source, digest))

    def parse(self, data: bytes, source: str, digest: str) -> Document | str:
        """`parse_or_fault` with this ingest's choice of sections."""
        return parse_or_fault(data, source, digest, self.sections)

    def accept(self, source: str, data: bytes, digest: str, parsed: Document | str) -> None:
        """Queue a parsed document (or reject its fault); skip a version already stored."""
        if isinstance(parsed, str):
            self.reject(source, parsed)
            return
        known = self.by_version.get((parsed.set_id, parsed.version))
        if known is not None:
            if known in self.unscanned and known == parsed.document_id:
                self.unscanned.discard(known)
                self.by_hash[digest] = known
                self.backfill.append(parsed)
            self.skip(known)
            if len(self.backfill) >= self.batch_size:
                self.flush()
            return
        document = parsed if parsed.sha256 == digest else replace(parsed, sha256=digest)
        if self.keep_xml:
            self._cache_writes.append(self._writer.submit(cache.put, self.cache_dir, data, digest))
            self._cache_bytes += len(data)
        self.by_hash[digest] = document.document_id
        self.by_version[(document.set_id, document.version)] = document.document_id
        self.batch.append(document)
        self.summary.fetched += 1
        self._note_id(document.document_id)
        self.progress.advance()
        if len(self.batch) >= self.batch_size or self._cache_bytes > MAX_BYTES_IN_FLIGHT:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Hand the queued documents and rejects to the writer (one transaction per batch).

        Waits for the previous batch first, so a failed write surfaces here and no more than
        one batch is ever held in memory unwritten; `wait` also waits for this one.
        """
        self._wait_for_commit()
        batch, rejects, cache_writes = self.batch, self.pending_rejects, self._cache_writes
        self.batch, self.pending_rejects, self._cache_writes = [], [], []
        self._cache_bytes = 0
        backfill, self.backfill = self.backfill, []
        if batch or rejects or backfill:
            self._commit = self._writer.submit(self._write, batch, rejects, cache_writes, backfill)
        if wait:
            self._wait_for_commit()

    def _wait_for_commit(self) -> None:
        if self._commit is not None:
            commit, self._commit = self._commit, None
            commit.result()

    def _write(
        self,
        batch: list[Document],
        rejects: list[tuple[str, str]],
        cache_writes: list[Future],
        backfill: list[Document] = (),
    ) -> None:
        for write in cache_writes:
            write.result()  # already run (same thread, queued earlier); re-raises a failure
        if batch:
            self.summary.paragraphs_added += store.write_documents(self.con, batch)
        if backfill:
            self.summary.products_filled += store.fill_products(self.con, backfill)
            if self.sections:
                self.summary.sections_filled += store.fill_sections(self.con, backfill)
        if rejects:
            store.record_rejects(self.con, rejects)
        self.progress.committed(self.summary)

    def close(self) -> None:
        """Stop the writer thread once everything queued is written (or has failed)."""
        self._writer.shutdown(wait=True)


@contextmanager
def _ingesting(
    db_path: Path,
    cache_dir: Path,
    progress: bool,
    total: int | None,
    label: str,
    batch_size: int,
    keep_xml: bool = True,
    sections: bool = False,
) -> Iterator[_Ingest]:
    """Open the database and an ingest; commit what is queued even when the run fails."""
    con = store.connect(db_path)
    # DuckDB keeps written blocks cached up to 80% of RAM: on a release that alone grew adme
    # past 1.7 GB. Ingest only appends, so a small cache costs nothing (blocks go to disk).
    con.execute(f"SET memory_limit = '{INGEST_DUCKDB_MEMORY}'")
    try:
        with _Progress(progress, total, label) as bar:
            ingest = _Ingest(con, cache_dir, bar, batch_size, keep_xml, sections)
            try:
                yield ingest
                ingest.flush(wait=True)
            except AdmeError:
                ingest.flush(wait=True)  # keep the whole documents read before the failure
                raise
            finally:
                ingest.close()
    finally:
        con.close()


def fetch_from_path(
    db_path,
    path,
    cache_dir,
    progress: bool = True,
    *,
    batch_size: int = BATCH_SIZE,
    keep_xml: bool = False,
    threads: int = DEFAULT_THREADS,
    parse_workers: int | None = None,
    sections: bool = False,
    source_name: str | None = None,
    keep_member: sources.MemberFilter | None = None,
) -> FetchSummary:
    """Store every SPL label found at `path` (XML file, folder, release ZIP, folder of ZIPs).

    Bad files become rejects (one line each, also written to the `rejects` table) and never
    stop the good ones. A missing path or an empty folder is an AdmeError before the database
    is touched. The input is already on disk, so its XML is copied into the cache only with
    `keep_xml` (documents.sha256 is the digest of the raw XML either way).

    Labels are hashed, parsed and extracted on `threads` threads (lxml parses without the GIL,
    so one thread parses while another extracts); this thread reads the input (ZIP members
    included) and takes the results in input order, so the rows are those of a serial run.
    `threads` <= 1 does everything on this thread. With `parse_workers` >= 2, processes parse
    instead of threads (extraction then runs on several cores; worth it on many-core machines).

    `parse_workers` None (the default) picks the engine by input size: processes for inputs of
    AUTO_PROCESS_BYTES or more (a release part), threads below (a start-up costs ~1 s).

    `sections` also stores every section's text (the `sections` table; see `adme fetch
    --sections`), and fills in the sections of stored documents met without them.

    `source_name` records a single file under another name (a release by the URL it was
    downloaded from); `keep_member` picks the top-level members of ZIPs (e.g. prescription/).
    """
    if threads < 0 or (parse_workers or 0) < 0:
        raise UsageError("--threads and --parse-workers must be 0 or more")
    files = sources.check_input(Path(path))
    if parse_workers is None:
        parse_workers = auto_parse_workers(files)
    names = {files[0]: source_name} if source_name and len(files) == 1 else None
    if keep_xml:
        cache.check_root(Path(cache_dir))
    total = sources.estimate_count(files) if progress else None
    with (
        _ingesting(
            Path(db_path),
            Path(cache_dir),
            progress,
            total,
            "ingest",
            batch_size,
            keep_xml,
            sections,
        ) as ing,
        _parse_pool(parse_workers, threads, frozenset(ing.by_hash)) as pool,
    ):
        in_processes = isinstance(pool, ProcessPoolExecutor)
        if in_processes and not keep_xml:
            items = _files_for_processes(files, names, keep_member)  # processes read XML files
        else:
            items = sources.iter_files(files, names, keep_member)
        if pool is None:
            for item in items:
                if isinstance(item, sources.Reject):
                    ing.reject(item.source, item.reason)
                else:
                    ing.add(item.source, item.data)
        elif in_processes:
            _ingest_in_processes(ing, pool, items, parse_workers * 8, PROCESS_CHUNK)
        else:
            _ingest_in_parallel(ing, pool, items, threads * 8)
        return ing.summary


def auto_parse_workers(files: list[Path]) -> int:
    """Parse processes worth starting for these input files: up to 4 for a large input on a
    machine with 2 or more cores (extraction then runs on every core), else 0 (threads)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    size = 0
    for file in files:
        try:
            size += file.stat().st_size
        except OSError:
            continue
        if size >= AUTO_PROCESS_BYTES:
            return min(4, cores) if cores >= 2 else 0
    return 0


@contextmanager
def _parse_pool(
    processes: int, threads: int, stored: frozenset[str] = frozenset()
) -> Iterator[Executor | None]:
    """Processes when asked for 2 or more, else threads when 2 or more, else None (serial).

    Processes start knowing the `stored` digests, to skip the files they read themselves.
    """
    if processes >= 2:
        # forkserver: workers never inherit this process's DuckDB threads and locks.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["adme.spl"])
        pool: Executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_known_at_start,
            initargs=(stored, os.getpid()),
        )
    elif threads >= 2:
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adme-parse")
    else:
        yield None
        return
    try:
        yield pool
    except BaseException:
        # Ctrl-C or a failure: drop the labels not yet started; whole batches stay committed.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _ingest_in_parallel(
    ing: _Ingest,
    pool: Executor,
    items: Iterable[sources.Item],
    ahead: int,
    max_bytes: int = MAX_BYTES_IN_FLIGHT,
) -> None:
    """Hash and parse on parse threads while this thread reads the input, queues and writes.

    Results are taken in input order with at most `ahead` labels and `max_bytes` of raw XML in
    flight (one label always goes, however large), so memory stays bounded by bytes whatever
    the labels weigh, and the stored rows are the same as a serial run's. Threads also hash
    (the stored digests are read, not written, there).
    """
    in_flight: deque = deque()
    held = 0  # bytes of raw XML in in_flight

    def settle_oldest() -> None:
        nonlocal held
        item, future = in_flight.popleft()
        if future is None:
            ing.reject(item.source, item.reason)
            return
        held -= len(item.data)
        digest, result = future.result()
        # Checked again here, in input order: the same bytes may come twice in one input.
        # `result` is None only for digests stored when the thread looked, which `by_hash`
        # never loses, so is_stored then says so (as in `_settle_read`).
        if not ing.is_stored(digest):
            ing.accept(item.source, item.data, digest, result)

    for item in items:
        if isinstance(item, sources.Reject):
            in_flight.append((item, None))
        else:
            held += len(item.data)
            future = pool.submit(_hash_and_parse, item.data, item.source, ing.by_hash, ing.sections)
            in_flight.append((item, future))
        while len(in_flight) > ahead or (held > max_bytes and len(in_flight) > 1):
            settle_oldest()
    while in_flight:
        settle_oldest()


def _ingest_in_processes(
    ing: _Ingest,
    pool: Executor,
    items: Iterable[Path | sources.Item | sources.InnerZip],
    ahead: int,
    chunk_size: int,
    max_bytes: int = MAX_BYTES_IN_FLIGHT,
) -> None:
    """Parse in processes, `chunk_size` labels per task, while this thread reads and writes.

    As `_ingest_in_parallel`: results are taken in input order with at most about `ahead`
    labels and `max_bytes` of raw XML in flight (plus the chunk being filled, sent once it
    holds CHUNK_BYTES), so the stored rows are a serial run's.
    XML files given as paths and inner ZIPs are read, inflated and hashed by the processes
    (`_files_for_processes`); other labels are hashed here, and those already stored are not
    sent at all.
    """
    in_flight: deque = deque()  # (entries, future or None) per chunk, in input order
    # The chunk being filled: (item, digest when hashed here, whether it is in `tasks`).
    entries: list[tuple[Path | sources.Item | sources.InnerZip, str | None, bool]] = []
    tasks: list[str | sources.InnerZip | tuple[bytes, str, str]] = []  # for a process, in order
    waiting = 0  # labels in in_flight
    held = filling = 0  # bytes of raw XML in in_flight, and in the chunk being filled

    def submit() -> None:
        nonlocal entries, tasks, waiting, held, filling
        future = pool.submit(_parse_in_process, tasks, ing.sections) if tasks else None
        in_flight.append((entries, future, filling))
        waiting += len(entries)
        held += filling
        entries, tasks, filling = [], [], 0

    def settle_oldest() -> None:
        nonlocal waiting, held
        chunk, future, size = in_flight.popleft()
        waiting -= len(chunk)
        held -= size
        try:
            results = iter(future.result() if future is not None else ())
        except BrokenProcessPool as exc:
            names = [str(getattr(item, "source", item)) for item, *_ in chunk]
            where = names[0] if len(names) == 1 else f"one of {names[0]} .. {names[-1]}"
            raise AdmeError(
                f"{where}: a parser process died ({exc}); rerun with --parse-workers 0"
            ) from exc
        for item, digest, sent in chunk:
            if isinstance(item, Path):
                _settle_read(ing, str(item), *next(results))
            elif isinstance(item, sources.InnerZip):
                for label in next(results):
                    _settle_read(ing, *label)
            elif isinstance(item, sources.Reject):
                ing.reject(item.source, item.reason)
            elif not sent:  # already stored when it was read: skipped here, in input order
                ing.skip(ing.by_hash[digest])
            else:
                result = next(results)
                # Checked again in input order: the same bytes may come twice in one input.
                if not ing.is_stored(digest):
                    ing.accept(item.source, item.data, digest, result)

    for item in items:
        if isinstance(item, Path):
            tasks.append(str(item))
            entries.append((item, None, True))
        elif isinstance(item, sources.InnerZip):
            tasks.append(item)
            entries.append((item, None, True))
            filling += len(item.data)
        elif isinstance(item, sources.Reject):
            entries.append((item, None, False))
        else:
            digest = cache.sha256_of(item.data)
            sent = digest not in ing.by_hash  # stored ones are not parsed again
            if sent:
                tasks.append((item.data, item.source, digest))
            entries.append((item, digest, sent))
            filling += len(item.data)
        if len(entries) >= chunk_size or filling >= CHUNK_BYTES:
            submit()
            while waiting > ahead or (held > max_bytes and len(in_flight) > 1):
                settle_oldest()
    if entries:
        submit()
    while in_flight:
        settle_oldest()


def _settle_read(
    ing: _Ingest, source: str, digest: str | None, result: Document | str | None
) -> None:
    """Take the result of a label a parse process read itself (a file or an inner ZIP's).

    Only used without `keep_xml`, so the label's bytes are never needed here. `result` is None
    only for bytes stored when the pool started; `ing.by_hash` never loses a digest, so
    `is_stored` then says so and the label is skipped.
    """
    if digest is None:
        ing.reject(source, result)  # the file or member could not be read
    elif not ing.is_stored(digest):  # checked again in input order, as for other items
        ing.accept(source, b"", digest, result)


@dataclass(frozen=True)
class _Wanted:
    """One label version to get from DailyMed: the newest comes as XML, older ones as ZIP.

    `exact` (--all-versions): this very version is wanted, not just the newest there is, so
    when `spls/{SETID}.xml` has moved on to a later version, the listed one comes by its ZIP.
    """

    listed: Listed
    newest: bool
    exact: bool = False

    @property
    def key(self) -> str:
        return _cache_key(self.listed.setid, self.listed.version)


def _cache_key(setid: str, version: int) -> str:
    """The cache key of one label version; it names only XML that parsed as that version."""
    return f"{setid}_v{version}"


# What a set id must look like to name a cache key (DailyMed's are UUIDs).
_SETID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,180}")


def _wanted_versions(
    client: DailyMedClient,
    *,
    drug: str | None,
    setids: Iterable[str],
    since: str | None,
    doctype: str | None,
    limit: int | None,
    all_versions: bool,
    reject: Callable[[str, str], None],
    unii: str | None = None,
    ndc: str | None = None,
) -> Iterator[_Wanted]:
    """Yield the label versions the options ask for, lazily, listing page by page."""

    def expand(listed: Listed) -> Iterator[_Wanted]:
        if not all_versions:
            yield _Wanted(listed, newest=True)
            return
        try:
            versions = client.history(listed.setid) or [listed]
        except HttpError as exc:
            reject(exc.url, f"no version history (HTTP {exc.status})")
            return
        newest = max(v.version for v in versions)
        for v in versions:
            yield _Wanted(v, newest=v.version == newest, exact=True)

    for setid in setids:
        found = list(client.list_spls(setid=setid, doctype=None, limit=1))
        if not found:
            reject(f"setid {setid}", "not found on DailyMed")
        for listed in found:
            yield from expand(listed)
    if drug or since or unii or ndc:
        listing = client.list_spls(
            drug=drug, doctype=doctype, since=since, limit=limit, unii=unii, ndc=ndc
        )
        for listed in listing:
            yield from expand(listed)


def _source_url(client: DailyMedClient, wanted: _Wanted) -> str:
    """Where a label version is downloaded from: the `source` recorded for its document."""
    setid, version = wanted.listed.setid, wanted.listed.version
    if wanted.newest:
        return client.spl_xml_url(setid)
    return client.version_zip_url(setid, version)


def _download(client: DailyMedClient, wanted: _Wanted) -> list[sources.Item]:
    """Download one label version; an older version's ZIP is opened in memory."""
    setid, version = wanted.listed.setid, wanted.listed.version
    url = _source_url(client, wanted)
    if wanted.newest:
        return [sources.RawSpl(url, client.spl_xml(setid))]
    items = list(sources.iter_zip_bytes(client.version_zip(setid, version), url))
    if not any(isinstance(i, sources.RawSpl) for i in items):
        items.append(sources.Reject(url, "ZIP holds no SPL XML"))
    return items


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def fetch_from_dailymed(
    db_path,
    cache_dir,
    *,
    drug=None,
    setids=(),
    since=None,
    doctype=HUMAN_PRESCRIPTION,
    limit=None,
    all_versions=False,
    base_url=DEFAULT_BASE_URL,
    workers=4,
    progress=True,
    rate: float = 2.0,
    read_timeout: float = 60.0,
    retries: int = 5,
    batch_size: int = BATCH_SIZE,
    unii=None,
    ndc=None,
    sections: bool = False,
) -> FetchSummary:
    """Store the labels DailyMed lists for a drug, set ids, a publication date, an ingredient's
    UNII or an NDC (filters given together must all match).

    A version already stored is skipped before it is downloaded (the listing names it), and a
    version already in the cache is read from there, so a re-run downloads nothing it has.
    Downloads run on `workers` threads sharing one polite session; parsing and writing stay
    on this thread. Service failures that retries cannot fix end the run with an AdmeError,
    after committing every whole document read so far.
    """
    if not (drug or setids or since or unii or ndc):
        raise UsageError(
            "say what to fetch: --drug, --unii, --ndc, --setid, --since, or --from PATH"
        )
    if since is not None:
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise UsageError(f"--since must be a date YYYY-MM-DD, not {since!r}") from None
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    cache.check_root(Path(cache_dir))
    client = DailyMedClient(base_url, rate=rate, read_timeout=read_timeout, max_retries=retries)
    cache_dir = Path(cache_dir)
    with (
        client,
        _ingesting(
            Path(db_path), cache_dir, progress, None, "fetch", batch_size, sections=sections
        ) as ing,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        wanted = _wanted_versions(
            client,
            drug=drug,
            setids=setids,
            since=since,
            doctype=doctype,
            limit=limit,
            all_versions=all_versions,
            reject=ing.reject,
            unii=unii,
            ndc=ndc,
        )
        # Bounded look-ahead: a few downloads per worker in flight, never the whole listing.
        for chunk in _chunks(wanted, workers * 4):
            _ingest_chunk(client, pool, ing, cache_dir, chunk)
        return ing.summary


def _ingest_chunk(
    client: DailyMedClient,
    pool: ThreadPoolExecutor,
    ing: _Ingest,
    cache_dir: Path,
    chunk: list[_Wanted],
) -> None:
    to_download = []
    for wanted in chunk:
        setid = wanted.listed.setid
        stored = ing.stored_version(setid, wanted.listed.version)
        if stored is not None and stored not in ing.unscanned:  # else read again, to fill in
            ing.skip(stored)
            continue
        if not _SETID.fullmatch(setid):
            ing.reject(_source_url(client, wanted), f"not a usable set id: {setid!r}")
            continue
        cached = cache.recall(cache_dir, wanted.key)
        if cached is None:
            to_download.append(wanted)
            continue
        digest = cache.sha256_of(cached)
        if wanted.exact and digest in ing.by_hash:
            # Stored bytes are not this (unstored) version: a key an older adme wrote under
            # the listed version for XML that had moved on. Get the listed version by its ZIP.
            to_download.append(replace(wanted, newest=False))
        else:
            source = _source_url(client, wanted)
            # Taken in any case; when the cache held another version and this exact one is
            # wanted (an older adme's key), the listed version comes by its ZIP.
            if not _take(ing, cache_dir, wanted, source, cached, digest) and wanted.exact:
                to_download.append(replace(wanted, newest=False))
    while to_download:
        futures = [(w, pool.submit(_download, client, w)) for w in to_download]
        to_download = []
        for wanted, future in futures:
            try:
                items = future.result()
            except HttpError as exc:
                ing.reject(exc.url, f"HTTP {exc.status}")
                continue
            done = False
            for item in items:
                if isinstance(item, sources.Reject):
                    ing.reject(item.source, item.reason)
                    continue
                digest = cache.put(cache_dir, item.data)
                done = _take(ing, cache_dir, wanted, item.source, item.data, digest) or done
            if not done and wanted.exact and wanted.newest:
                # The label changed between listing and download: `spls/{SETID}.xml` now
                # serves a later version (stored too); the listed one still comes, by its ZIP.
                to_download.append(replace(wanted, newest=False))


def _take(
    ing: _Ingest, cache_dir: Path, wanted: _Wanted, source: str, data: bytes, digest: str
) -> bool:
    """Store (or skip, or reject) one XML got for `wanted`; True unless it turned out to be
    another version than the listed one, which is then still missing.

    The XML is remembered in the cache under the version it really is, so a later run never
    takes it for the listed version.
    """
    setid, version = wanted.listed.setid, wanted.listed.version
    if ing.is_stored(digest):
        return ing.stored_version(setid, version) is not None
    parsed = ing.parse(data, source, digest)
    if isinstance(parsed, str):
        ing.reject(source, parsed)
        return True  # a broken file is a reject, not a reason to download more
    if parsed.set_id == setid:
        cache.remember(cache_dir, _cache_key(setid, parsed.version), digest)
    ing.accept(source, data, digest, parsed)
    return ing.stored_version(setid, version) is not None


def fetch(
    db_path,
    cache_dir,
    *,
    from_path=None,
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    keep_xml: bool = False,
    threads: int = DEFAULT_THREADS,
    parse_workers: int | None = None,
    release: str | None = None,
    parts: str | None = None,
    updates: bool = False,
    release_url: str | None = None,
    keep_download: bool = False,
    sections: bool = False,
    **dailymed_options,
) -> FetchSummary:
    """`adme fetch`: ingest `from_path` when given, a bulk `release` or its `updates`
    (adme.releases), else ask DailyMed's web services (see fetch_from_dailymed).

    `keep_xml` applies to `from_path` only, `threads` and `parse_workers` to files (from disk
    or downloaded releases): DailyMed labels are always cached, and parsed on this thread while
    the downloads run on `workers` threads. `sections` (every mode) also stores every
    section's text.
    """
    if release or updates:
        return _fetch_release(
            db_path,
            cache_dir,
            from_path=from_path,
            progress=progress,
            batch_size=batch_size,
            threads=threads,
            parse_workers=parse_workers,
            release=release,
            parts=parts,
            updates=updates,
            release_url=release_url,
            keep_download=keep_download,
            sections=sections,
            **dailymed_options,
        )
    if parts or release_url or keep_download:
        raise UsageError(
            "--parts, --release-url and --keep-download go with --release or --updates"
        )
    if parse_workers is None and from_path is None:
        parse_workers = 0
    if from_path is not None:
        flags = {"drug": "--drug", "setids": "--setid", "since": "--since"}
        flags.update(all_versions="--all-versions", unii="--unii", ndc="--ndc")
        conflicting = [f for k, f in flags.items() if dailymed_options.get(k)]
        if conflicting:
            names = ", ".join(conflicting)
            raise UsageError(f"--from reads files on disk; it cannot be combined with {names}")
        return fetch_from_path(
            db_path,
            from_path,
            cache_dir,
            progress,
            batch_size=batch_size,
            keep_xml=keep_xml,
            threads=threads,
            parse_workers=parse_workers,
            sections=sections,
        )
    return fetch_from_dailymed(
        db_path,
        cache_dir,
        progress=progress,
        batch_size=batch_size,
        sections=sections,
        **dailymed_options,
    )


def _fetch_release(
    db_path,
    cache_dir,
    *,
    from_path,
    release,
    updates,
    since=None,
    rate=2.0,
    read_timeout=60.0,
    retries=5,
    **options,
):
    """`fetch --release` / `--updates`: refuse the options that do not go with them, then run."""
    from adme import releases

    flags = {"drug": "--drug", "setids": "--setid", "all_versions": "--all-versions"}
    flags.update(limit="--limit", unii="--unii", ndc="--ndc")
    conflicting = ["--from"] if from_path is not None else []
    conflicting += [flag for key, flag in flags.items() if options.get(key)]
    if release and updates:
        conflicting.append("--updates")
    if since and not updates:
        conflicting.append("--since")
    if options["parts"] and not release:
        conflicting.append("--parts")
    if conflicting:
        what = "--release" if release else "--updates"
        raise UsageError(f"{what} cannot be combined with {', '.join(conflicting)}")
    common = releases.ReleaseOptions(
        release_url=options["release_url"] or releases.DEFAULT_RELEASE_URL,
        keep_download=options["keep_download"],
        progress=options["progress"],
        threads=options["threads"],
        parse_workers=options["parse_workers"],
        batch_size=options["batch_size"],
        sections=options["sections"],
        rate=rate,
        read_timeout=read_timeout,
        retries=retries,
    )
    if release:
        return releases.fetch_release(
            db_path, cache_dir, release, parts=options["parts"], options=common
        )
    return releases.fetch_updates(db_path, cache_dir, since=since, options=common)
