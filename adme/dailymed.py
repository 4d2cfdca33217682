"""HTTP client for DailyMed web services v2: listing, label XML, version history, old versions.

A good citizen: one shared `requests.Session`, connect and read timeouts, about two requests per
second per client (shared by all worker threads), retries with exponential backoff on 429 and
5xx that honour `Retry-After`, and a User-Agent naming adme. When the service stays unwell the
caller gets one AdmeError line, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

import requests

from adme import __version__
from adme.errors import AdmeError
from adme.wording import count

DEFAULT_BASE_URL = "https://dailymed.nlm.nih.gov/dailymed/services/v2/"
USER_AGENT = f"adme/{__version__} (+https://github.com/adme-project/adme; regulatory ADME research)"
HUMAN_PRESCRIPTION = "34391-3"
PAGE_SIZE = 100
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpError(AdmeError):
    """An HTTP answer that retrying cannot fix (e.g. 404 for an unknown set id)."""

    def __init__(self, url: str, status: int):
        self.url = url
        self.status = status
        super().__init__(f"GET {url}: HTTP {status}")


@dataclass(frozen=True)
class Listed:
    """One label version named by the service: enough to skip it before downloading."""

    setid: str
    version: int
    title: str | None = None
    published_date: str | None = None


def as_int(value: object) -> int | None:
    """Counts come as numbers, as strings of digits, or as the string "null"; normalise them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def getfile_url(base_url: str) -> str:
    """The `getFile.cfm` address that goes with a web-service base URL.

    The real service lives at `.../dailymed/services/v2/` and its ZIPs at
    `.../dailymed/getFile.cfm`; deriving one from the other lets tests point both at 127.0.0.1.
    """
    parts = urlsplit(base_url if base_url.endswith("/") else base_url + "/")
    path = parts.path
    for suffix in ("services/v2/", "services/v2"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path + "getFile.cfm", "", ""))


def retry_after_seconds(header: str | None, cap: float) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), capped.

    None when the header is missing or unreadable (the caller then backs off on its own).
    """
    if not header:
        return None
    header = header.strip()
    if header.isascii() and header.isdigit():  # str.isdigit() also accepts "²", which int() refuses
        return min(float(header), cap)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" gives a naive datetime; HTTP dates are always UTC
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, min(when.timestamp() - time.time(), cap))


class RateLimiter:
    """At most `rate` request starts per second, shared by every thread of one client."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller may start its request."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class DailyMedClient:
    """Talks to DailyMed web services v2 (or a server speaking the same protocol)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        rate: float = 2.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_retry_after: float = 120.0,
        page_size: int = PAGE_SIZE,
    ):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.getfile = getfile_url(self.base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.page_size = min(max(1, page_size), PAGE_SIZE)
        self.limiter = RateLimiter(rate)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Size the connection pool to the worker threads that share this session.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        """Release the pooled connections."""
        self.session.close()

    def __enter__(self) -> DailyMedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds to wait before try `attempt + 1`: what Retry-After asks, else backoff x 2^n."""
        asked = retry_after_seconds(
            response.headers.get("Retry-After") if response is not None else None,
            self.max_retry_after,
        )
        return asked if asked is not None else self.backoff * 2**attempt

    def get(self, url: str, params: dict | None = None) -> requests.Response:
        """GET with politeness and retries; raise AdmeError once retrying cannot help."""
        last_fault = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            response = None
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.exceptions.ReadTimeout:
                last_fault = f"no answer within {self.timeout[1]:g} s (read timeout)"
            except requests.exceptions.ConnectionError as exc:
                last_fault = f"cannot connect ({type(exc).__name__})"
            except requests.exceptions.ChunkedEncodingError:
                # The connection broke while the body was coming: as transient as a timeout.
                last_fault = "connection broken while reading the answer"
            except requests.exceptions.RequestException as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise AdmeError(f"GET {url}: {reason}") from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise HttpError(response.url, response.status_code)
                last_fault = f"HTTP {response.status_code}"
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, response))
        shown = requests.Request("GET", url, params=params).prepare().url
        raise AdmeError(
            f"GET {shown}: {last_fault}, gave up after {count(self.max_retries + 1, 'try')}"
        )

    def _json(self, url: str, params: dict | None = None) -> dict:
        """GET a JSON object; an answer that is not one is a one-line AdmeError."""
        response = self.get(url, params)
        try:
            payload = response.json()
        except ValueError as exc:
            raise AdmeError(f"GET {response.url}: answer is not JSON") from exc
        if not isinstance(payload, dict):
            raise AdmeError(f"GET {response.url}: unexpected JSON shape")
        return payload

    def _pages(self, url: str, params: dict) -> Iterator[dict]:
        """Yield every page's JSON from page 1 until the service says there is no next page.

        Always moves forward from the page it asked for, and stops at an empty page, so a
        service that ignores `page` or never says "null" cannot keep it asking forever.
        """
        page = 1
        while True:
            payload = self._json(url, {**params, "page": page, "pagesize": self.page_size})
            yield payload
            meta = payload.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            total_pages = as_int(meta.get("total_pages"))
            following = as_int(meta.get("next_page"))
            if following is None or following <= page or not payload.get("data"):
                return
            if total_pages is not None and following > total_pages:
                return
            page = following

    def list_spls(
        self,
        *,
        drug: str | None = None,
        setid: str | None = None,
        doctype: str | None = HUMAN_PRESCRIPTION,
        since: str | None = None,
        limit: int | None = None,
        unii: str | None = None,
        ndc: str | None = None,
    ) -> Iterator[Listed]:
        """Yield the labels `spls.json` lists for these filters, page after page, up to `limit`.

        `unii` (an ingredient's UNII) and `ndc` (a product or package NDC) are the service's
        `unii_code` and `ndc` filters.

        `since` (YYYY-MM-DD) keeps labels published on or after that day; the comparison is
        passed explicitly because the service's default is not documented.
        """
        params: dict[str, str] = {}
        if drug:
            params["drug_name"] = drug
        if setid:
            params["setid"] = setid
        if unii:
            params["unii_code"] = unii
        if ndc:
            params["ndc"] = ndc
        if doctype:
            params["doctype"] = doctype
        if since:
            params["published_date"] = since
            params["published_date_comparison"] = "gte"
        seen = 0
        for payload in self._pages(urljoin(self.base_url, "spls.json"), params):
            for row in payload.get("data") or []:
                if limit is not None and seen >= limit:
                    return
                listed = _listed(row)
                if listed is not None:
                    seen += 1
                    yield listed
            if limit is not None and seen >= limit:
                return

    def history(self, setid: str) -> list[Listed]:
        """Every version of a set id, from `spls/{SETID}/history.json`, newest first."""
        url = self.history_url(setid)
        versions: dict[int, Listed] = {}
        for payload in self._pages(url, {}):
            data = payload.get("data")
            rows = data.get("history") if isinstance(data, dict) else data
            for row in rows or []:
                version = as_int(row.get("spl_version"))
                if version is not None:
                    versions[version] = Listed(setid, version, None, row.get("published_date"))
        return [versions[v] for v in sorted(versions, reverse=True)]

    def history_url(self, setid: str) -> str:
        """Address of `spls/{SETID}/history.json`."""
        return urljoin(self.base_url, f"spls/{_path_part(setid)}/history.json")

    def spl_xml_url(self, setid: str) -> str:
        """Address of `spls/{SETID}.xml`, the newest version's SPL XML."""
        return urljoin(self.base_url, f"spls/{_path_part(setid)}.xml")

    def version_zip_url(self, setid: str, version: int) -> str:
        """Address of the `getFile.cfm` ZIP of one version of a set id."""
        query = urlencode({"type": "zip", "setid": setid, "version": str(version)})
        return f"{self.getfile}?{query}"

    def spl_xml(self, setid: str) -> bytes:
        """The newest version's SPL XML, from `spls/{SETID}.xml`."""
        return self.get(self.spl_xml_url(setid)).content

    def version_zip(self, setid: str, version: int) -> bytes:
        """The ZIP DailyMed serves for one (older) version of a set id, from `getFile.cfm`."""
        return self.get(self.version_zip_url(setid, version)).content


def _path_part(setid: str) -> str:
    """A set id as one URL path segment: "/", "?", "#" or ".." cannot change the address."""
    if not setid or setid in (".", ".."):
        raise AdmeError(f"not a set id: {setid!r}")
    return quote(setid, safe="")


def _listed(row: object) -> Listed | None:
    """A listing row as a Listed, or None when it lacks a set id or a version number."""
    if not isinstance(row, dict) or not row.get("setid"):
        return None
    version = as_int(row.get("spl_version"))
    if version is None:
        return None
    return Listed(str(row["setid"]), version, row.get("title"), row.get("published_date"))
