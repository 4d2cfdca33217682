"""The DailyMed client against a real HTTP server on 127.0.0.1 (no mocking of requests)."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import __version__, sources
from adme.cli import app
from adme.dailymed import (
    DailyMedClient,
    RateLimiter,
    as_int,
    getfile_url,
    retry_after_seconds,
)
from adme.errors import AdmeError
from tests.http_fixture_server import API, Fault, FixtureServer, label_from_file

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "spl"
INOMAX = "762b51be-1893-4cd1-9511-e645fc420d3a"  # three versions in the sample


@pytest.fixture(scope="module")
def labels():
    return [label_from_file(p) for p in sorted(SAMPLE.glob("*.xml"))]


@pytest.fixture
def server(labels):
    with FixtureServer(labels) as running:
        yield running


def fast_client(server: FixtureServer, **options) -> DailyMedClient:
    """A client with test-sized politeness and timeouts (the defaults suit the real service)."""
    defaults = {"rate": 200.0, "read_timeout": 5.0, "max_retries": 2, "backoff": 0.01}
    return DailyMedClient(server.base_url, **{**defaults, **options})


def test_listing_is_followed_to_the_last_page(server, labels):
    client = fast_client(server, page_size=7)
    listed = list(client.list_spls(doctype=None))
    setids = sorted({x.setid for x in labels})
    assert [x.setid for x in listed] == setids
    assert server.count(API + "spls.json") == -(-len(setids) // 7)
    newest = {x.setid: max(y.version for y in labels if y.setid == x.setid) for x in labels}
    assert {x.setid: x.version for x in listed} == newest


def test_listing_stops_at_the_limit_without_reading_more_pages(server):
    client = fast_client(server, page_size=5)
    listed = list(client.list_spls(doctype=None, limit=12))
    assert len(listed) == 12
    assert server.count(API + "spls.json") == 3


def test_listing_sends_filters_and_explicit_date_comparison(server, labels):
    client = fast_client(server)
    listed = list(client.list_spls(drug="metformin", since="2020-01-01"))
    assert listed and all("metformin" in x.title.lower() for x in listed)
    query = server.requests[-1]
    for part in (
        "drug_name=metformin",
        "doctype=34391-3",
        "published_date=2020-01-01",
        "published_date_comparison=gte",
        "page=1",
        "pagesize=100",
    ):
        assert part in query


def test_paging_fields_given_as_strings_and_null(labels):
    with FixtureServer(labels, paging_as_strings=True) as server:
        client = fast_client(server, page_size=10)
        listed = list(client.list_spls(doctype=None))
        assert len(listed) == len({x.setid for x in labels})
        # The last page's next_page is the string "null": the client must stop there.
        assert server.count(API + "spls.json") == -(-len(listed) // 10)


def test_requests_carry_a_descriptive_user_agent(server):
    fast_client(server).spl_xml(INOMAX)
    (agent,) = server.user_agents
    assert agent.startswith(f"adme/{__version__} (+https://")
    assert "ADME research" in agent


def test_429_with_retry_after_is_waited_out_then_succeeds(server):
    path = API + f"spls/{INOMAX}.xml"
    server.script(path, Fault(429, {"Retry-After": "1"}))
    client = fast_client(server, backoff=0.01)  # without Retry-After it would retry at once
    data = client.spl_xml(INOMAX)
    assert b'<versionNumber value="14"' in data
    assert server.count(path) == 2
    fault_at = server.fault_times[0]
    assert time.monotonic() - fault_at >= 0.95


def test_retry_after_is_capped_and_parses_http_dates():
    assert retry_after_seconds("3", cap=10) == 3
    assert retry_after_seconds("3600", cap=10) == 10
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", cap=10) == 0
    assert retry_after_seconds("soon", cap=10) is None
    assert retry_after_seconds(None, cap=10) is None


def test_5xx_until_retries_run_out_is_one_clear_error(server):
    path = API + f"spls/{INOMAX}.xml"
    server.fail_always(path, Fault(503))
    client = fast_client(server, max_retries=2)
    with pytest.raises(AdmeError) as raised:
        client.spl_xml(INOMAX)
    message = str(raised.value)
    assert "\n" not in message
    assert "HTTP 503" in message and "gave up after 3 tries" in message and INOMAX in message
    assert server.count(path) == 3


def test_backoff_grows_exponentially_between_retries(server):
    path = API + f"spls/{INOMAX}.xml"
    server.fail_always(path, Fault(502))
    client = fast_client(server, max_retries=2, backoff=0.2)
    with pytest.raises(AdmeError):
        client.spl_xml(INOMAX)
    first, second, third = server.fault_times
    assert second - first >= 0.19
    assert third - second >= 0.39


def test_5xx_forever_makes_the_cli_exit_1_with_one_line(server, tmp_path):
    server.fail_always(API + "spls.json", Fault(500))
    result = CliRunner().invoke(
        app,
        [
            "fetch",
            "--setid",
            INOMAX,
            "--base-url",
            server.base_url,
            "--retries",
            "1",
            "--rate",
            "100",
            "--db",
            str(tmp_path / "adme.duckdb"),
            "--cache",
            str(tmp_path / "cache"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "HTTP 500" in errors[0] and "gave up after 2 tries" in errors[0]
    assert not list((tmp_path / "cache").rglob("*.xml"))


def test_read_timeout_is_retried_then_reported(server):
    path = API + f"spls/{INOMAX}.xml"
    server.script(path, Fault(200, body=b"late", delay=1.0))
    client = fast_client(server, read_timeout=0.3, max_retries=1)
    assert b"<document" in client.spl_xml(INOMAX)  # second try answers at once

    server.fail_always(path, Fault(200, body=b"late", delay=1.0))
    client = fast_client(server, read_timeout=0.3, max_retries=0)
    with pytest.raises(AdmeError, match=r"read timeout"):
        client.spl_xml(INOMAX)


def test_unknown_setid_is_http_404_not_retried(server):
    client = fast_client(server)
    with pytest.raises(AdmeError, match="HTTP 404"):
        client.spl_xml("00000000-0000-0000-0000-000000000000")
    assert server.count(API + "spls/0000") == 1


def test_history_and_older_version_zip(server, labels):
    client = fast_client(server)
    history = client.history(INOMAX)
    assert [x.version for x in history] == [14, 13, 12]
    data = client.version_zip(INOMAX, 12)
    items = list(sources.iter_zip_bytes(data, "v12.zip"))
    assert [type(i) for i in items] == [sources.RawSpl]
    expected = next(x.xml for x in labels if x.setid == INOMAX and x.version == 12)
    assert items[0].data == expected
    assert server.count("/dailymed/getFile.cfm?type=zip") == 1


def test_getfile_url_derives_from_the_base_url():
    assert (
        getfile_url("https://dailymed.nlm.nih.gov/dailymed/services/v2/")
        == "https://dailymed.nlm.nih.gov/dailymed/getFile.cfm"
    )
    assert getfile_url("http://127.0.0.1:8000/dailymed/services/v2") == (
        "http://127.0.0.1:8000/dailymed/getFile.cfm"
    )


def test_counts_as_numbers_strings_or_null():
    assert as_int(3) == 3
    assert as_int("12") == 12
    assert as_int("null") is None
    assert as_int(None) is None
    assert as_int(True) is None


def test_rate_limiter_spaces_requests():
    limiter = RateLimiter(rate=20.0)
    start = time.monotonic()
    for _ in range(6):
        limiter.wait()
    assert time.monotonic() - start >= 5 / 20 - 0.01


def test_listing_stops_when_the_service_ignores_the_page_parameter(labels):
    # A broken service answering page 1 with "next_page": 2 to every request must not keep the
    # client asking forever: it asked for page 2 and got told page 2 is next again.
    with FixtureServer(labels, ignore_page=True) as server:
        client = fast_client(server, page_size=5)
        listed = list(client.list_spls(doctype=None))
        assert server.count(API + "spls.json") == 2
        assert len(listed) == 10  # page 1 twice; fetch skips the repeated versions


def test_listing_stops_at_an_empty_page(server):
    # next_page keeps promising more, with no total_pages to check it against: the empty page
    # ends the listing instead of walking on through empty pages.
    def page(current: int, rows: list) -> Fault:
        meta = {"current_page": current, "next_page": current + 1, "total_pages": "null"}
        return Fault(200, body=json.dumps({"metadata": meta, "data": rows}).encode())

    row = {"setid": INOMAX, "spl_version": 14, "title": "INOmax", "published_date": "x"}
    server.script(API + "spls.json", page(1, [row]), page(2, []), page(3, []))
    listed = list(fast_client(server).list_spls(doctype=None))
    assert [x.setid for x in listed] == [INOMAX]
    assert server.count(API + "spls.json") == 2


def test_retry_after_http_date_in_the_future_and_odd_values():
    soon = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.5 <= retry_after_seconds(soon, cap=10) <= 5
    # "-0000" makes parsedate_to_datetime return a naive datetime: still UTC, not local time
    soon_naive = email.utils.formatdate(time.time() + 5).replace("+0000", "-0000")
    assert soon_naive.endswith("-0000")
    assert 3.5 <= retry_after_seconds(soon_naive, cap=10) <= 5
    assert retry_after_seconds("²", cap=10) is None  # "²".isdigit() is True; int() refuses it
    assert retry_after_seconds("-5", cap=10) is None


def test_connection_cut_mid_body_is_retried(server):
    path = API + f"spls/{INOMAX}.xml"
    server.script(path, Fault(200, body=b"<document>" + b" " * 4000, cut=True))
    client = fast_client(server, max_retries=1)
    assert b'<versionNumber value="14"' in client.spl_xml(INOMAX)
    assert server.count(path) == 2


def test_set_id_cannot_change_the_address(server):
    client = fast_client(server)
    assert client.spl_xml_url("a/../../x?y#z").startswith(server.base_url + "spls/a%2F..%2F")
    assert "history.json" in client.history_url("../x")
    assert client.history_url("../x").startswith(server.base_url + "spls/")
    with pytest.raises(AdmeError, match="not a set id"):
        client.spl_xml_url("..")
    with pytest.raises(AdmeError, match="HTTP 404"):
        client.spl_xml("../spls.json?x=")  # without quoting this reached the listing: HTTP 200


def test_rate_limiter_is_shared_by_threads():
    limiter = RateLimiter(rate=50.0)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            limiter.wait()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 12
    assert starts[-1] - starts[0] >= 11 / 50 - 0.01  # 12 starts, 11 gaps of 1/50 s at least
