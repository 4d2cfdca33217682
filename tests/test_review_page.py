"""The review page of `adme serve`: its JSON API over real HTTP, and the page itself driven by
a real headless Chromium (Selenium): answer with the keyboard, undo, reload, all in DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from adme import store
from adme.cli import app as cli_app
from adme.model_id import model_id
from adme.serve import create_app, start_line
from tests import reporting_db
from tests.label_helpers import build_classifier
from tests.live_server import LiveServer

CLASSES = reporting_db.CLASSES
EXTRA_TEXTS = (  # unlabelled paragraphs of one more label, so the queue holds five texts
    "Steady state is reached within four days of twice-daily dosing.",
    "The drug crosses the placenta and is found in breast milk.",
)


def add_unlabelled_label(db_path: Path) -> None:
    """One more label whose paragraphs have no heading, hence no rule label."""
    reporting_db.add_unlabelled_document(db_path, "extra", "EXTRADRUG tablets", EXTRA_TEXTS)


@pytest.fixture(scope="module")
def classifier_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny BERT with a five-class head."""
    return build_classifier(tiny_model_dir, tmp_path_factory.mktemp("review-clf"), CLASSES)


@pytest.fixture(scope="module")
def db_template(classifier_dir, tmp_path_factory) -> Path:
    """The report database plus an unlabelled label, with the served model's predictions
    (model A's labels and confidences) on every paragraph."""
    path = reporting_db.build(tmp_path_factory.mktemp("review-db") / "adme.duckdb", runs=False)
    add_unlabelled_label(path)
    served = model_id(classifier_dir)
    con = store.connect(path)
    try:
        rows = con.execute("SELECT paragraph_id FROM paragraphs ORDER BY 1").fetchall()
        reporting_db.write_predictions(
            con,
            [(pid, served, CLASSES[i % 5], 0.3 + 0.1 * (i % 6)) for i, (pid,) in enumerate(rows)],
        )
    finally:
        con.close()
    return path


@pytest.fixture
def db(db_template, tmp_path) -> Path:
    """A private copy, safe to write to."""
    path = tmp_path / "adme.duckdb"
    shutil.copyfile(db_template, path)
    return path


def rows(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one read-only query (only while the server is idle: it holds no connection)."""
    con = store.connect(db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def unlabelled_texts(db_path: Path) -> int:
    """Distinct texts the served model labelled and the rule did not: the confidence queue."""
    return rows(
        db_path, "SELECT count(DISTINCT text_hash) FROM paragraphs WHERE rule_label IS NULL"
    )[0][0]


# --- the JSON API ---------------------------------------------------------------------------


def test_read_only_server_shows_the_queue_and_refuses_answers(db, classifier_dir):
    """Without --allow-reviews: the page and queue are served, every write is a 403, no row."""
    with LiveServer(create_app(db, classifier_dir)) as url:
        page = requests.get(f"{url}/review", timeout=10)
        assert page.status_code == 200 and "adme review" in page.text
        assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
        config = requests.get(f"{url}/api/review/config", timeout=10).json()
        assert config["allow_reviews"] is False and config["labels"] == list(CLASSES)
        queue = requests.get(f"{url}/api/review/items?queue=confidence", timeout=10).json()
        assert queue["total"] == unlabelled_texts(db) and queue["done"] == 0
        confidences = [item["model"]["confidence"] for item in queue["items"]]
        assert confidences == sorted(confidences)  # least confident first
        pid = queue["items"][0]["paragraph_id"]
        refused = requests.post(
            f"{url}/api/review/answers", json={"paragraph_id": pid, "label": "other"}, timeout=10
        )
        assert refused.status_code == 403 and "--allow-reviews" in refused.json()["detail"]
    assert rows(db, "SELECT count(*) FROM reviews") == [(0,)]


def test_answers_bad_input_and_undo_over_http(db, classifier_dir):
    """A label outside the five is 422, an unknown paragraph 404, a double undo 409; good
    answers are rows at once; a drug's paragraphs come in reading order with predictions."""
    app = create_app(db, classifier_dir, allow_reviews=True, reviewer="ana")
    with LiveServer(app) as url:
        queue = requests.get(f"{url}/api/review/items?queue=disagreements", timeout=10).json()
        assert queue["total"] > 0
        assert all(i["rule_label"] != i["model"]["label"] for i in queue["items"])
        confidences = [item["model"]["confidence"] for item in queue["items"]]
        assert confidences == sorted(confidences, reverse=True)  # most confident first
        pid = queue["items"][0]["paragraph_id"]
        post = lambda path, body: requests.post(f"{url}{path}", json=body, timeout=10)  # noqa: E731
        bad = post("/api/review/answers", {"paragraph_id": pid, "label": "adme"})
        assert bad.status_code == 422 and "not one of absorption" in bad.json()["detail"]
        missing = post("/api/review/answers", {"paragraph_id": "nope/9", "label": "other"})
        assert missing.status_code == 404 and "nope/9" in missing.json()["detail"]
        saved = post("/api/review/answers", {"paragraph_id": pid, "label": " Metabolism "})
        assert saved.status_code == 200 and saved.json()["label"] == "metabolism"
        after = requests.get(f"{url}/api/review/items?queue=disagreements", timeout=10).json()
        assert after["done"] == 1 and pid not in [i["paragraph_id"] for i in after["items"]]
        undo = post("/api/review/undo", {"review_id": saved.json()["review_id"]})
        assert undo.status_code == 200
        again = post("/api/review/undo", {"review_id": saved.json()["review_id"]})
        assert again.status_code == 409 and "already undone" in again.json()["detail"]
        drug = requests.get(f"{url}/api/review/items?queue=drug&set_id=set-extra", timeout=10)
        assert [i["text"] for i in drug.json()["items"]] == list(EXTRA_TEXTS)
        no_set = requests.get(f"{url}/api/review/items?queue=drug", timeout=10)
        assert no_set.status_code == 422
        drugs = requests.get(f"{url}/api/review/drugs", timeout=10).json()
        assert {
            "set_id": "set-extra",
            "title": "EXTRADRUG tablets",
            "paragraphs": 2,
            "reviewed": 0,
        } in drugs
    trail = rows(db, "SELECT paragraph_id, label, reviewer, source, retracts FROM reviews")
    assert trail == [
        (pid, "metabolism", "ana", "page", None),
        (pid, None, "ana", "page", saved.json()["review_id"]),
    ]


def test_serve_refuses_allow_reviews_without_a_reviewer(db, tmp_path):
    """--allow-reviews alone: a one-line error before the model is even loaded."""
    result = CliRunner().invoke(
        cli_app, ["serve", "--model", str(tmp_path / "none"), "--db", str(db), "--allow-reviews"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --allow-reviews needs --reviewer NAME (recorded with every answer)"
    )


# --- the page in a real browser -------------------------------------------------------------

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(db, classifier_dir):
    """The app of `adme serve --allow-reviews --reviewer ana` on a free port of 127.0.0.1."""
    with LiveServer(create_app(db, classifier_dir, allow_reviews=True, reviewer="ana")) as url:
        yield url


def test_start_line_says_where_it_binds_and_whether_answers_are_recorded():
    """The line `adme serve` prints on start."""
    local = start_line("127.0.0.1", 8000, True, "ana")
    assert local == (
        "adme serve: bound to 127.0.0.1:8000 (this machine only); review page "
        "http://127.0.0.1:8000/review, answers are recorded as reviewer 'ana'"
    )
    public = start_line("0.0.0.0", 8080, False, None)
    assert "(other machines too)" in public and "read-only (--allow-reviews" in public


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium; skipped where Debian's chromium is missing."""
    if not (CHROMEDRIVER and CHROMIUM):
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1100,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_label_three_paragraphs_with_the_keyboard_undo_and_reload(served, browser, db, tmp_path):
    """Keys 1, 3, 5 answer three paragraphs (rows in DuckDB at once), U undoes the last (a
    retraction row; it shows again), 5 answers it again; after a reload the three are done."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = served
    wait = WebDriverWait(browser, 10)
    total = unlabelled_texts(db)

    def counter() -> str:
        return browser.find_element(By.ID, "counter").text

    def shown() -> str:
        return browser.find_element(By.ID, "card").get_attribute("data-paragraph-id")

    def press(key: str, done_after: int) -> None:
        browser.find_element(By.TAG_NAME, "body").send_keys(key)
        wait.until(lambda _: counter() == f"done {done_after} of {total} texts")

    browser.get(f"{url}/review")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert counter() == f"done 0 of {total} texts"
    assert "1 absorption" in browser.find_element(By.ID, "answers").text
    answered = []
    for n, key in enumerate(("1", "3", "5"), start=1):
        answered.append(shown())
        press(key, n)
    assert len(set(answered)) == 3
    stored = rows(db, "SELECT paragraph_id, label, reviewer, source FROM reviews ORDER BY 1")
    expected = zip(answered, ("absorption", "metabolism", "other"), strict=True)
    assert stored == sorted((pid, label, "ana", "page") for pid, label in expected)

    press("u", 2)
    assert shown() == answered[-1]  # the undone paragraph is back in front
    press("5", 3)
    assert rows(db, "SELECT count(*), count(retracts) FROM reviews") == [(5, 1)]

    browser.refresh()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert counter() == f"done 3 of {total} texts"
    assert shown() not in answered
    browser.save_screenshot(str(tmp_path / "review_page.png"))
    assert (tmp_path / "review_page.png").stat().st_size > 10_000
    in_force = dict(rows(db, "SELECT paragraph_id, label FROM current_reviews"))
    assert in_force == dict(zip(answered, ("absorption", "metabolism", "other"), strict=True))
