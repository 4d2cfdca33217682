"""A real HTTP server on 127.0.0.1 that speaks enough DailyMed v2 for the fetch tests.

It serves fixture labels (real SPL XML from data/spl) as `spls.json` pages, `spls/{SETID}.xml`,
`spls/{SETID}/history.json` and `getFile.cfm?type=zip` downloads, counts every request, and
plays scripted faults (429 with Retry-After, 5xx, slow answers) before the normal answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

API = "/dailymed/services/v2/"
GETFILE = "/dailymed/getFile.cfm"


@dataclass(frozen=True)
class Fault:
    """A scripted answer: status, headers and body, after waiting `delay` seconds.

    With `cut`, the connection is closed half way through the announced body.
    """

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"fault"
    delay: float = 0.0
    cut: bool = False


@dataclass(frozen=True)
class FixtureLabel:
    """One label version the server knows."""

    setid: str
    version: int
    title: str
    document_id: str
    xml: bytes
    published_date: str = "Jan 01, 2024"


def label_from_file(path: Path) -> FixtureLabel:
    """Read set id, version, title and document id of a real SPL file (regex, not the parser)."""
    xml = path.read_bytes()
    head = xml[:20000].decode("utf-8", "replace")
    setid = re.search(r'<setId root="([^"]+)"', head).group(1)
    version = int(re.search(r'<versionNumber value="(\d+)"', head).group(1))
    document_id = re.search(r'<id root="([^"]+)"', head).group(1)
    title_match = re.search(r"<title[^>]*>(.*?)</title>", head, re.S)
    title = re.sub(r"<[^>]+>|\s+", " ", title_match.group(1)).strip() if title_match else ""
    return FixtureLabel(setid, version, title, document_id, xml)


def version_zip(label: FixtureLabel) -> bytes:
    """The ZIP getFile.cfm serves for one version: the XML plus an image, as DailyMed does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{label.document_id}.xml", label.xml)
        archive.writestr("package-label.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    return buffer.getvalue()


class FixtureServer:
    """DailyMed look-alike on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(
        self,
        labels: list[FixtureLabel],
        paging_as_strings: bool = False,
        ignore_page: bool = False,
    ):
        self.labels = labels
        self.paging_as_strings = paging_as_strings
        self.ignore_page = ignore_page  # a broken service: always page 1, always a next page
        self.requests: list[str] = []
        self.user_agents: set[str] = set()
        self.scripted: dict[str, deque[Fault]] = {}
        self.always: dict[str, Fault] = {}
        self.fault_times: list[float] = []
        self.label_delay = 0.0  # seconds each label XML answer takes (concurrency tests)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The web-service base URL to pass as --base-url."""
        return f"http://127.0.0.1:{self._httpd.server_port}{API}"

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to `path` (no query) with these faults, in order."""
        self.scripted.setdefault(path, deque()).extend(faults)

    def fail_always(self, path: str, fault: Fault) -> None:
        """Answer every request to `path` with this fault."""
        self.always[path] = fault

    def count(self, prefix: str = "") -> int:
        """How many requests reached a path starting with `prefix`."""
        with self._lock:
            return sum(1 for r in self.requests if r.startswith(prefix))

    # --- answers ---------------------------------------------------------------------------

    def _fault_for(self, path: str) -> Fault | None:
        """The scripted or permanent fault due for `path`, if any (its time is noted)."""
        with self._lock:
            queue = self.scripted.get(path)
            if queue:
                self.fault_times.append(time.monotonic())
                return queue.popleft()
            if path in self.always:
                self.fault_times.append(time.monotonic())
                return self.always[path]
        return None

    def _number(self, value: int | None) -> int | str | None:
        """A paging count as the real service may write it: a number, or a string, or "null"."""
        if value is None:
            return "null" if self.paging_as_strings else None
        return str(value) if self.paging_as_strings else value

    def _page(self, rows: list[dict], query: dict[str, list[str]]) -> dict:
        """One page of `rows` with DailyMed's metadata block, as `page` and `pagesize` ask."""
        page = 1 if self.ignore_page else int(query.get("page", ["1"])[0])
        size = min(int(query.get("pagesize", ["100"])[0]), 100)
        pages = max(1, -(-len(rows) // size))
        chunk = rows[(page - 1) * size : page * size]
        following = page + 1 if page < pages else None
        if self.ignore_page:
            pages, following = None, 2
        metadata = {
            "total_elements": self._number(len(rows)),
            "elements_per_page": self._number(size),
            "total_pages": self._number(pages),
            "current_page": self._number(page),
            "current_url": "ignored",
            "next_page": self._number(following),
            "next_page_url": "null" if following is None else "ignored",
        }
        return {"metadata": metadata, "data": chunk}

    def _newest(self) -> dict[str, FixtureLabel]:
        """The newest version of each set id."""
        newest: dict[str, FixtureLabel] = {}
        for label in self.labels:
            if label.setid not in newest or label.version > newest[label.setid].version:
                newest[label.setid] = label
        return newest

    def listing(self, query: dict[str, list[str]]) -> dict:
        """`spls.json`: newest version per set id, filtered by drug_name / setid / unii_code /
        ndc (a UNII or NDC the label's XML names as a code), paged."""
        drug = query.get("drug_name", [""])[0].lower()
        setid = query.get("setid", [""])[0]
        codes = [f'code="{query[k][0]}'.encode() for k in ("unii_code", "ndc") if k in query]
        rows = [
            {
                "setid": label.setid,
                "spl_version": label.version,
                "title": label.title,
                "published_date": label.published_date,
            }
            for label in sorted(self._newest().values(), key=lambda x: x.setid)
            if (not drug or drug in label.title.lower())
            and (not setid or label.setid == setid)
            and all(code in label.xml for code in codes)
        ]
        return self._page(rows, query)

    def history(self, setid: str) -> dict | None:
        """`spls/{SETID}/history.json`: every version, newest first."""
        versions = sorted((x for x in self.labels if x.setid == setid), key=lambda x: -x.version)
        if not versions:
            return None
        rows = [{"spl_version": x.version, "published_date": x.published_date} for x in versions]
        page = self._page(rows, {})
        page["data"] = {"spl": {"setid": setid, "title": versions[0].title}, "history": rows}
        return page

    def find(self, setid: str, version: int | None) -> FixtureLabel | None:
        """The label with this set id and version (newest when version is None)."""
        if version is None:
            return self._newest().get(setid)
        return next((x for x in self.labels if x.setid == setid and x.version == version), None)


def _handler_for(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            """Keep test output quiet."""

        def _send(
            self,
            status: int,
            body: bytes,
            ctype: str,
            headers: dict | None = None,
            cut: bool = False,
        ):
            """Answer with this status, headers and body (only its first half with `cut`)."""
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body[: len(body) // 2] if cut else body)  # client may be gone
            if cut:
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            with server._lock:
                server.requests.append(self.path)
                server.user_agents.add(self.headers.get("User-Agent", ""))
                server.active += 1
                server.max_active = max(server.max_active, server.active)
            try:
                self._get(parts)
            finally:
                with server._lock:
                    server.active -= 1

        def _get(self, parts) -> None:
            """A scripted fault when one is due, else the fixture answer or 404."""
            fault = server._fault_for(parts.path)
            if fault is not None:
                time.sleep(fault.delay)
                self._send(fault.status, fault.body, "text/plain", fault.headers, fault.cut)
                return
            query = parse_qs(parts.query)
            answer = self._answer(parts.path, query)
            if answer is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._send(200, *answer)

        def _answer(self, path: str, query: dict) -> tuple[bytes, str] | None:
            """(body, content type) for a DailyMed v2 path, or None when it names nothing."""
            if path == API + "spls.json":
                return json.dumps(server.listing(query)).encode(), "application/json"
            if match := re.fullmatch(API + r"spls/([^/]+)/history\.json", path):
                history = server.history(match.group(1))
                return (
                    None if history is None else (json.dumps(history).encode(), "application/json")
                )
            if match := re.fullmatch(API + r"spls/([^/]+)\.xml", path):
                time.sleep(server.label_delay)
                label = server.find(match.group(1), None)
                return None if label is None else (label.xml, "application/xml")
            if path == GETFILE and query.get("type") == ["zip"]:
                version = int(query.get("version", ["0"])[0])
                label = server.find(query.get("setid", [""])[0], version)
                return None if label is None else (version_zip(label), "application/zip")
            return None

    return Handler


# --- DailyMed's SPL resources page and its bulk files -----------------------------------------

RESOURCES = "/dailymed/spl-resources-all-drug-labels.cfm"
FILES = "/public-release-files/"


class ReleaseServer:
    """The SPL resources page plus the ZIPs it links, on 127.0.0.1:<free port>.

    The page links half the files by relative and half by absolute URL (plus an FTP link each,
    as the real page does). Files honour `Range: bytes=N-` (206) unless `ignore_range`; `cuts`
    makes the next answers for a file stop half way through (the connection closed), and
    `bytes_per_second` slows every answer (for interrupting a download on purpose).
    """

    def __init__(self, files: dict[str, bytes], ignore_range: bool = False):
        self.files = dict(files)
        self.ignore_range = ignore_range
        self.cuts: dict[str, int] = {}
        self.bytes_per_second: float | None = None
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _release_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    @property
    def page_url(self) -> str:
        """The address to pass as --release-url."""
        return self.origin + RESOURCES

    def __enter__(self) -> ReleaseServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def page(self) -> bytes:
        """The resources page: a list item per file, relative and absolute links mixed."""
        items = []
        for i, name in enumerate(sorted(self.files)):
            href = f"{self.origin}{FILES}{name}" if i % 2 else f"..{FILES}{name}"
            items.append(
                f'<li>{name} [ <a href="{href}">HTTPS</a> / '
                f'<a href="ftp://public.nlm.nih.gov/nlmdata/.dailymed/{name}">FTP</a> ]'
                f"<ul><li>File size: {len(self.files[name])} bytes</li></ul></li>"
            )
        html = (
            "<!DOCTYPE html><html><head><title>SPL Resources</title></head><body>"
            '<a href="/dailymed/index.cfm">Home</a><a href="rxnorm_mappings.zip">RxNorm</a>'
            f'<ul class="download">{"".join(items)}</ul></body></html>'
        )
        return html.encode()

    def gets(self, name: str) -> list[str | None]:
        """The Range header of every GET of a file, in order (None: no Range asked)."""
        with self._lock:
            return [r for m, p, r in self.requests if m == "GET" and p == FILES + name]


def _release_handler(server: ReleaseServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            """Keep test output quiet."""

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            path = urlsplit(self.path).path
            with server._lock:
                server.requests.append(("HEAD" if head else "GET", path, self.headers["Range"]))
            if path == RESOURCES:
                self._send(200, {"Content-Type": "text/html"}, server.page(), head)
                return
            name = path[len(FILES) :] if path.startswith(FILES) else None
            data = server.files.get(name) if name else None
            if data is None:
                self._send(404, {"Content-Type": "text/plain"}, b"not found", head)
                return
            headers = {
                "Content-Type": "application/zip",
                "Last-Modified": "Mon, 03 Aug 2026 10:00:00 GMT",
            }
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            status, start = 200, 0
            if match and not server.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    self._send(416, {"Content-Range": f"bytes */{len(data)}"}, b"", head)
                    return
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            headers["Accept-Ranges"] = "none" if server.ignore_range else "bytes"
            body = data[start:]
            cut = False
            if not head:
                with server._lock:
                    if server.cuts.get(name, 0) > 0:
                        server.cuts[name] -= 1
                        cut = True
            self._send(status, headers, body, head, cut)

        def _send(self, status, headers, body, head, cut=False) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            sent = body[: len(body) // 2] if cut else body
            step = 64 * 1024
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for offset in range(0, len(sent), step):
                    self.wfile.write(sent[offset : offset + step])
                    if server.bytes_per_second:
                        time.sleep(step / server.bytes_per_second)
                self.wfile.flush()
            if cut:
                self.close_connection = True

    return Handler
