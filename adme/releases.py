"""DailyMed bulk releases and updates: find them on the SPL resources page, download, ingest.

`adme fetch --release human-rx [--parts 1,3]` reads the links of DailyMed's "SPL resources: all
drug labels" page (no list of file names is built in), downloads each part with resume (HTTP
Range into a `.part` file; a server that ignores Range restarts it cleanly; the size must match
Content-Length), refuses a file whose ZIP end is not where it should be, and ingests it as
`fetch --from` does. `adme fetch --updates [--since DATE]` applies the daily, weekly and monthly
update ZIPs newer than the database, oldest first. Every applied file gets a `releases` row, so
a rerun downloads and ingests nothing new; an interrupted one resumes (the download from its
`.part`, the ingest by skipping what is stored) and ends with the rows of an uninterrupted run.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests

from adme import cache, store
from adme.dailymed import DailyMedClient
from adme.errors import AdmeError, UsageError
from adme.fetch import BATCH_SIZE, DEFAULT_THREADS, FetchSummary, fetch_from_path
from adme.progress import step_bar
from adme.wording import count

DEFAULT_RELEASE_URL = "https://dailymed.nlm.nih.gov/dailymed/spl-resources-all-drug-labels.cfm"
DOWNLOAD_CHUNK = 64 * 1024  # a cut loses at most the read in progress: keep it small
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_RELEASE = re.compile(r"dm_spl_release_(?P<set>[a-z0-9_]+?)(?:_part(?P<part>\d+))?\.zip", re.I)
_UPDATE = re.compile(
    r"dm_spl_(?P<kind>daily|weekly|monthly)_update_(?P<when>[a-z0-9_]+)\.zip", re.I
)
# Which top-level folder of an update ZIP holds each release's kind of label.
UPDATE_FOLDERS = {"human-rx": "prescription/", "human-otc": "otc/"}


@dataclass(frozen=True)
class ReleaseFile:
    """One ZIP linked from the resources page: a release part or an update."""

    name: str
    url: str
    kind: str  # release | daily | weekly | monthly
    release: str | None = None  # e.g. human-rx (release parts only)
    part: int | None = None
    start: dt.date | None = None  # first and last day an update covers
    end: dt.date | None = None


@dataclass
class ReleaseSummary:
    """What one `fetch --release` or `--updates` did: a line per file, and the ingest totals."""

    lines: list[str] = field(default_factory=list)
    total: FetchSummary = field(default_factory=FetchSummary)

    @property
    def rejects(self) -> list[tuple[str, str]]:
        """Every reject of every file, as FetchSummary has them."""
        return self.total.rejects

    def line(self) -> str:
        """A line per file, then the totals, printed at the end of `adme fetch`."""
        return "\n".join([*self.lines, self.total.line()])

    def add(self, summary: FetchSummary) -> None:
        """Fold one file's ingest into the totals."""
        self.total.fetched += summary.fetched
        self.total.skipped += summary.skipped
        self.total.rejected += summary.rejected
        self.total.paragraphs_added += summary.paragraphs_added
        self.total.rejects.extend(summary.rejects)


# --- the resources page ----------------------------------------------------------------------


def _date(text: str) -> dt.date | None:
    """MMDDYYYY, YYYYMMDD or MMDDYY as a date, or None."""
    formats = {8: ("%m%d%Y", "%Y%m%d"), 6: ("%m%d%y",)}
    for fmt in formats.get(len(text), ()):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _period(kind: str, when: str) -> tuple[dt.date, dt.date] | None:
    """The days an update file covers, from the date part of its name."""
    when = when.lower()
    if match := re.fullmatch(r"([a-z]{3})(\d{4})", when):  # monthly: aug2025
        month = _MONTHS.get(match.group(1))
        if month is None:
            return None
        first = dt.date(int(match.group(2)), month, 1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    days = [_date(x) for x in when.split("_")]
    if not days or None in days or len(days) > 2:
        return None
    if len(days) == 2:
        return min(days), max(days)
    if kind == "weekly":
        return days[0] - dt.timedelta(days=6), days[0]
    return days[0], days[0]


def parse_file_name(name: str, url: str) -> ReleaseFile | None:
    """A release part or update named by DailyMed's conventions, or None for other files."""
    if match := _RELEASE.fullmatch(name):
        part = int(match.group("part")) if match.group("part") else None
        release = match.group("set").lower().replace("_", "-")
        return ReleaseFile(name, url, "release", release, part)
    if match := _UPDATE.fullmatch(name):
        kind = match.group("kind").lower()
        period = _period(kind, match.group("when"))
        if period is not None:
            return ReleaseFile(name, url, kind, start=period[0], end=period[1])
    return None


def page_links(html: bytes, page_url: str) -> list[str]:
    """Every link of an HTML page as an absolute URL (relative ones resolved against it)."""
    from lxml import html as lxml_html

    try:
        root = lxml_html.fromstring(html)
    except Exception as exc:  # lxml raises ParserError or XMLSyntaxError on junk
        raise AdmeError(f"GET {page_url}: not an HTML page ({type(exc).__name__})") from exc
    base = page_url
    for href in root.xpath("//base/@href"):
        base = urljoin(page_url, href)
    return [urljoin(base, href.strip()) for href in root.xpath("//a/@href") if href.strip()]


def list_files(client: DailyMedClient, page_url: str) -> list[ReleaseFile]:
    """The release parts and updates the resources page links to (first link per name wins)."""
    response = client.get(page_url)
    found: dict[str, ReleaseFile] = {}
    for url in page_links(response.content, response.url):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            continue  # the page also links each file by FTP
        name = unquote(parts.path.rsplit("/", 1)[-1])
        item = parse_file_name(name, url)
        if item is not None and name not in found:
            found[name] = item
    return list(found.values())


def choose_parts(files: list[ReleaseFile], release: str, parts: list[int] | None) -> list:
    """The parts of `release` (all, or those numbered in `parts`), in part order."""
    wanted = sorted(
        (f for f in files if f.kind == "release" and f.release == release),
        key=lambda f: f.part or 0,
    )
    if not wanted:
        known = sorted({f.release for f in files if f.kind == "release"})
        raise AdmeError(
            f"release {release!r} is not linked from the resources page "
            f"(it links: {', '.join(known) or 'no release'})"
        )
    if parts:
        have = {f.part for f in wanted}
        missing = sorted(set(parts) - have)
        if missing:
            raise AdmeError(
                f"release {release!r} has no part {', '.join(map(str, missing))} "
                f"(parts: {', '.join(str(p) for p in sorted(have) if p is not None)})"
            )
        wanted = [f for f in wanted if f.part in parts]
    return wanted


def choose_updates(files: list[ReleaseFile], after: dt.date) -> list[ReleaseFile]:
    """The update files that bring a database current as of `after` up to date, oldest first.

    Monthly, weekly and daily files overlap; from `after` on, each step takes the file that
    starts by the next uncovered day and reaches furthest (a month instead of its 30 dailies),
    and jumps a gap to the earliest later file when none does.
    """
    pool = [f for f in files if f.kind != "release" and f.end is not None and f.end > after]
    chosen: list[ReleaseFile] = []
    cursor = after
    while True:
        later = [f for f in pool if f.end > cursor]
        if not later:
            return chosen
        adjoining = [f for f in later if f.start <= cursor + dt.timedelta(days=1)]
        if adjoining:
            pick = max(adjoining, key=lambda f: (f.end, -(f.end - f.start).days))
        else:
            pick = min(later, key=lambda f: (f.start, -(f.end - f.start).days))
        chosen.append(pick)
        cursor = pick.end


def parse_parts(text: str | None) -> list[int] | None:
    """`--parts 1,3` as [1, 3] (None: every part); anything else is a one-line AdmeError."""
    if not text:
        return None
    try:
        parts = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise UsageError(f"--parts must be numbers separated by commas, not {text!r}") from None
    if not parts or min(parts) < 1:
        raise UsageError(f"--parts must be numbers from 1, not {text!r}")
    return parts


# --- download with resume ---------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    """What the server says about a file before it is downloaded."""

    size: int
    modified: dt.date | None


def _modified(headers) -> dt.date | None:
    """The Last-Modified header as a date, or None."""
    try:
        return email.utils.parsedate_to_datetime(headers["Last-Modified"]).date()
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def remote_info(client: DailyMedClient, url: str) -> Remote:
    """Size and date of a remote file, from a HEAD request (no body is downloaded)."""
    for attempt in range(client.max_retries + 1):
        client.limiter.wait()
        try:
            answer = client.session.head(url, timeout=client.timeout, allow_redirects=True)
        except requests.exceptions.RequestException as exc:
            fault = f"cannot connect ({type(exc).__name__})"
        else:
            if answer.status_code < 400 and answer.headers.get("Content-Length", "").isdigit():
                return Remote(int(answer.headers["Content-Length"]), _modified(answer.headers))
            if answer.status_code < 400:
                raise AdmeError(f"HEAD {url}: no Content-Length, so a download cannot be checked")
            if answer.status_code not in (429, 500, 502, 503, 504):
                raise AdmeError(f"HEAD {url}: HTTP {answer.status_code}")
            fault = f"HTTP {answer.status_code}"
        if attempt < client.max_retries:
            time.sleep(client.backoff * 2**attempt)
    raise AdmeError(f"HEAD {url}: {fault}, gave up after {count(client.max_retries + 1, 'try')}")


class _Bar:
    """Bytes, speed and ETA of one download: a rich bar on a terminal, else a final line."""

    def __init__(self, enabled: bool, name: str, total: int, done: int):
        self.bar = None
        self.name = name
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            self.bar = step_bar(True, unit="bytes")
            self.bar.start()
            self.task = self.bar.add_task(name, total=total, completed=done)

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def close(self, done: int, resumed_from: int) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.enabled:
            note = f" (resumed at {resumed_from} bytes)" if resumed_from else ""
            print(f"downloaded {self.name}: {done} bytes{note}", file=sys.stderr, flush=True)


def _content_range_start(header: str | None) -> int | None:
    """The first byte a 206 answer holds, from `Content-Range: bytes START-END/TOTAL`."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", (header or "").strip())
    return int(match.group(1)) if match else None


def download(
    client: DailyMedClient,
    url: str,
    target: Path,
    size: int,
    progress: bool = True,
    retries: int | None = None,
) -> str:
    """Download `url` to `target` (`size` bytes), resuming from `target.part` after any cut;
    return its sha256, taken while the bytes arrive (a resumed `.part` is read once).

    Each try asks for the bytes the `.part` file lacks (HTTP Range); a 206 answer is appended,
    a 200 answer (a server that ignores Range) restarts the file from byte 0. A cut connection
    is retried from where it stopped, with backoff; `retries` tries in a row that bring no new
    byte end in a one-line AdmeError, the `.part` kept for the next run. Only a `.part` of
    exactly `size` bytes is renamed to `target`. `retries` defaults to the client's.
    """
    retries = client.max_retries if retries is None else retries
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
    except OSError as exc:
        raise AdmeError(f"{target.parent}: cannot keep downloads there: {exc.strerror}") from exc
    if have > size:
        part.unlink()  # the file on the server changed (shrank): start again
        have = 0
    resumed_from = have
    bar = _Bar(progress, target.name, size, have)
    digest = _Digest()
    failures = 0
    try:
        while have < size:
            before = have
            fault = "no progress"
            try:
                digest.catch_up(part, have)
                have = _download_once(client, url, part, have, size, bar, digest)
            except requests.exceptions.RequestException as exc:  # before OSError: it is one
                have = part.stat().st_size if part.exists() else 0
                fault = f"connection broken ({type(exc).__name__})"
            except OSError as exc:
                raise AdmeError(f"{part}: cannot write the download: {exc}") from exc
            if have > before:
                failures = 0
            else:
                failures += 1
                if failures > retries:
                    raise AdmeError(
                        f"GET {url}: {fault} at byte {have} of {size}, "
                        f"gave up after {count(retries + 1, 'try')} (run again to resume)"
                    )
                time.sleep(min(client.backoff * 2 ** (failures - 1), 60))
    finally:
        bar.close(have, resumed_from)
    if part.stat().st_size != size:
        raise AdmeError(f"GET {url}: got {part.stat().st_size} bytes, Content-Length said {size}")
    digest.catch_up(part, size)
    os.replace(part, target)
    return digest.sha.hexdigest()


class _Digest:
    """The sha256 of a `.part` file's first `count` bytes, kept up to date as bytes arrive."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def update(self, data: bytes) -> None:
        self.sha.update(data)
        self.count += len(data)

    def catch_up(self, part: Path, have: int) -> None:
        """Hash the bytes of `part` up to `have` not hashed yet (a `.part` from an earlier run)."""
        if self.count > have:
            self.reset()
        if self.count == have:
            return
        with part.open("rb") as handle:
            handle.seek(self.count)
            while self.count < have:
                chunk = handle.read(min(DOWNLOAD_CHUNK * 16, have - self.count))
                if not chunk:
                    break
                self.update(chunk)


def _download_once(
    client: DailyMedClient, url: str, part: Path, have: int, size: int, bar: _Bar, digest: _Digest
) -> int:
    """One GET for the bytes from `have` on, appended to `part`; return the bytes now there.

    A server that ignores Range answers 200 with the whole file: `part` is then rewritten from
    byte 0. A body cut short raises requests' ChunkedEncodingError after what came is written.
    """
    headers = {"Range": f"bytes={have}-"} if have else {}
    client.limiter.wait()
    with client.session.get(url, headers=headers, stream=True, timeout=client.timeout) as answer:
        if answer.status_code == 416:  # nothing left to send: the part may be complete
            return part.stat().st_size if part.exists() else 0
        if answer.status_code in (429, 500, 502, 503, 504):
            raise requests.exceptions.ConnectionError(f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            raise AdmeError(f"GET {url}: HTTP {answer.status_code}")
        if answer.status_code == 206:
            if _content_range_start(answer.headers.get("Content-Range")) != have:
                raise AdmeError(f"GET {url}: answer to Range bytes={have}- starts elsewhere")
            mode = "ab"
        else:
            mode, have = "wb", 0  # the whole file (first try, or Range ignored)
            digest.reset()
        announced = answer.headers.get("Content-Length", "")
        if announced.isdigit() and have + int(announced) != size:
            raise AdmeError(
                f"GET {url}: Content-Length {announced} from byte {have} does not make the "
                f"{size} bytes announced (the file changed on the server?)"
            )
        with part.open(mode) as out:
            for chunk in answer.iter_content(DOWNLOAD_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                have += len(chunk)
                bar.update(have)
                if have > size:
                    raise AdmeError(f"GET {url}: more than the {size} bytes announced")
    return have


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(DOWNLOAD_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- apply ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseOptions:
    """How `fetch_release` and `fetch_updates` download and ingest (the `adme fetch` options)."""

    release_url: str = DEFAULT_RELEASE_URL
    keep_download: bool = False
    progress: bool = True
    threads: int = DEFAULT_THREADS
    parse_workers: int | None = None
    batch_size: int = BATCH_SIZE
    sections: bool = False
    rate: float = 2.0
    read_timeout: float = 60.0
    retries: int = 5


def _apply(
    db_path: Path,
    cache_dir: Path,
    client: DailyMedClient,
    item: ReleaseFile,
    remote: Remote,
    options: ReleaseOptions,
    keep_member,
) -> tuple[str, FetchSummary]:
    """Download one file (resuming), ingest it, record it in `releases`; return its line."""
    folder = Path(cache_dir) / "releases"
    target = folder / item.name
    if target.exists() and target.stat().st_size == remote.size:
        sha256 = sha256_file(target)  # downloaded by a run that stopped before recording it
    else:
        sha256 = download(client, item.url, target, remote.size, options.progress)
    summary = fetch_from_path(
        db_path,
        target,
        cache_dir,
        options.progress,
        batch_size=options.batch_size,
        threads=options.threads,
        parse_workers=options.parse_workers,
        sections=options.sections,
        source_name=item.url,
        keep_member=keep_member,
    )
    whole = not any(s == item.url for s, _ in summary.rejects)  # a refused ZIP is not applied
    con = store.connect(db_path)
    try:
        added, rejected = store.release_counts(con, item.url)
        seen = summary.fetched + summary.skipped + summary.rejected
        if whole:
            store.record_release(
                con,
                {
                    "name": item.name,
                    "kind": item.kind,
                    "url": item.url,
                    "size": remote.size,
                    "sha256": sha256,
                    "published": item.end or remote.modified,
                    "covers_from": item.start,
                    "added": added,
                    "skipped": max(0, seen - added - rejected),
                    "rejected": rejected,
                },
            )
    finally:
        con.close()
    if not options.keep_download or not whole:
        target.unlink(missing_ok=True)  # a refused file is downloaded again next time
    verb = "applied" if whole else "refused"
    return f"{verb} {item.name}: {summary.line()}", summary


def _applied(db_path: Path) -> tuple[set[tuple[str, int]], dt.date | None]:
    """(name, size) of the files already applied, and the newest published date."""
    con = store.connect(db_path)
    try:
        rows = store.applied_releases(con)
        newest = store.newest_release_date(con)
    finally:
        con.close()
    return {(name, size) for name, size, _ in rows}, newest


def _lacks_sections(db_path: Path, url: str) -> bool:
    con = store.connect(db_path)
    try:
        return store.documents_without_sections(con, url) > 0
    finally:
        con.close()


def _run(
    db_path,
    cache_dir,
    client: DailyMedClient,
    chosen: list[ReleaseFile],
    options: ReleaseOptions,
    keep_member=None,
) -> ReleaseSummary:
    """Apply each chosen file not applied yet, in order; a refused one stops the run.

    With `options.sections`, a file applied without sections is applied again: its stored
    documents then get their sections (nothing else of them changes).
    """
    applied, _ = _applied(Path(db_path))
    result = ReleaseSummary()
    for item in chosen:
        remote = remote_info(client, item.url)
        if (item.name, remote.size) in applied and not (
            options.sections and _lacks_sections(Path(db_path), item.url)
        ):
            result.lines.append(f"already applied {item.name} ({remote.size} bytes)")
            continue
        line, summary = _apply(
            Path(db_path), Path(cache_dir), client, item, remote, options, keep_member
        )
        result.lines.append(line)
        result.add(summary)
        if line.startswith("refused"):
            break  # later updates must not be applied over a missing one
    return result


def _client(options: ReleaseOptions) -> DailyMedClient:
    if urlsplit(options.release_url).scheme not in ("http", "https"):
        raise UsageError(f"--release-url must be an http(s) address, not {options.release_url!r}")
    return DailyMedClient(
        rate=options.rate, read_timeout=options.read_timeout, max_retries=options.retries
    )


def fetch_release(
    db_path,
    cache_dir,
    release: str,
    *,
    parts: str | None = None,
    options: ReleaseOptions = ReleaseOptions(),
) -> ReleaseSummary:
    """`adme fetch --release NAME`: download and ingest the release's parts not yet applied."""
    wanted_parts = parse_parts(parts)
    cache.check_root(Path(cache_dir))
    with _client(options) as client:
        chosen = choose_parts(list_files(client, options.release_url), release, wanted_parts)
        return _run(db_path, cache_dir, client, chosen, options)


def fetch_updates(
    db_path,
    cache_dir,
    *,
    since: str | None = None,
    release: str = "human-rx",
    options: ReleaseOptions = ReleaseOptions(),
) -> ReleaseSummary:
    """`adme fetch --updates`: apply the update ZIPs newer than the database, oldest first.

    Newer than `since` (YYYY-MM-DD, that day included) when given, else than the newest file
    already applied. Only the update's folder for `release` (prescription/ for human-rx) is read.
    """
    after = None
    if since is not None:
        try:
            after = dt.date.fromisoformat(since) - dt.timedelta(days=1)
        except ValueError:
            raise UsageError(f"--since must be a date YYYY-MM-DD, not {since!r}") from None
    cache.check_root(Path(cache_dir))
    if after is None:
        _, after = _applied(Path(db_path))
    if after is None:
        raise AdmeError(
            "--updates: no release applied yet; run `adme fetch --release human-rx` first, "
            "or give --since YYYY-MM-DD"
        )
    folder = UPDATE_FOLDERS.get(release)
    keep = (lambda name: name.startswith(folder)) if folder else None
    with _client(options) as client:
        chosen = choose_updates(list_files(client, options.release_url), after)
        result = _run(db_path, cache_dir, client, chosen, options, keep)
    if not chosen:
        result.lines.append(f"no update newer than {after.isoformat()} on the resources page")
    return result
