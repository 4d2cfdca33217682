"""adme serve over real HTTP: uvicorn on 127.0.0.1 in a thread, a tiny real classifier, requests."""

from __future__ import annotations

import pytest
import requests
from typer.testing import CliRunner

from adme import store
from adme.cli import app as cli_app
from adme.errors import AdmeError
from adme.inference import InferenceOptions, load_model, predict_texts
from adme.model_id import model_id
from adme.serve import create_app
from tests import reporting_db
from tests.label_helpers import build_classifier
from tests.live_server import LiveServer

CLASSES = reporting_db.CLASSES
TABLES = ("documents", "paragraphs", "predictions")


@pytest.fixture(scope="module")
def classifier_dir(tiny_model_dir, tmp_path_factory):
    """The tiny BERT with a five-class head, saved and reloadable with from_pretrained."""
    return build_classifier(tiny_model_dir, tmp_path_factory.mktemp("tiny-classifier"), CLASSES)


@pytest.fixture(scope="module")
def db(classifier_dir, tmp_path_factory):
    """The report test database plus this classifier's predictions for the atorvastatin label."""
    path = reporting_db.build(tmp_path_factory.mktemp("serve") / "adme.duckdb", runs=False)
    con = store.connect(path)
    pids = [
        pid
        for (pid,) in con.execute(
            "SELECT paragraph_id FROM paragraphs WHERE document_id = 'set-atorva-v2' "
            "AND ordinal < 3"
        ).fetchall()
    ]
    reporting_db.write_predictions(
        con, [(pid, model_id(classifier_dir), "metabolism", 0.41) for pid in pids]
    )
    con.close()
    return path


@pytest.fixture(scope="module")
def base_url(db, classifier_dir):
    """The API over `db` and the tiny classifier, with small limits so 4xx paths are cheap."""
    app = create_app(db, classifier_dir, max_body_bytes=20_000, max_paragraphs=8)
    with LiveServer(app) as url:
        yield url


def test_health_names_model_and_database(base_url, db, classifier_dir):
    answer = requests.get(f"{base_url}/health", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["model_id"] == model_id(classifier_dir)
    assert body["labels"] == list(CLASSES)
    assert body["database"] == str(db)
    latest = {set_id for set_id, *_ in reporting_db.LABELS}
    assert body["documents"] == len(latest)
    assert body["paragraphs"] == sum(len(rows) for *_, rows in reporting_db.LABELS)


def test_label_returns_probabilities_in_request_order(base_url, classifier_dir):
    texts = [
        "Atorvastatin is rapidly absorbed after oral administration; maximum plasma "
        "concentrations occur within 1 to 2 hours.",
        "Excreted in urine.",
        "Mean volume of distribution is about 381 liters and it is 98% bound to plasma proteins.",
    ]
    answer = requests.post(f"{base_url}/label", json={"paragraphs": texts}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_id"] == model_id(classifier_dir)
    assert len(body["predictions"]) == len(texts)
    direct = predict_texts(load_model(classifier_dir, InferenceOptions(device="cpu")), texts)
    for served, expected in zip(body["predictions"], direct, strict=True):
        assert set(served["probs"]) == set(CLASSES)
        assert sum(served["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert served["label"] == max(served["probs"], key=served["probs"].get)
        assert served["confidence"] == pytest.approx(max(served["probs"].values()))
        assert served["label"] == expected.label  # the same inference code as `adme label`
        assert served["probs"] == pytest.approx(expected.probs, abs=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"paragraphs": ["a", }', "body is not valid JSON"),
        (b'{"paragraph": ["a"]}', "paragraphs: Field required"),
        (b'{"paragraphs": "just one string"}', "paragraphs: Input should be a valid list"),
        (b'{"paragraphs": [1, {"x": 2}]}', "paragraphs.0: Input should be a valid string"),
        (b'{"paragraphs": []}', "paragraphs: List should have at least 1 item"),
        (b'{"paragraphs": ["p", "p", "p", "p", "p", "p", "p", "p", "p"]}', "9 given, at most 8"),
        # a lone surrogate: valid JSON, not valid Unicode (was a 500 from the tokenizer)
        (b'{"paragraphs": ["fine", "bad \\ud800 text"]}', "paragraphs.1: Value error, text"),
    ],
)
def test_bad_requests_get_422_with_a_clear_message(base_url, db, body, message):
    before = {t: reporting_db.table_rows(db, t) for t in TABLES}
    answer = requests.post(
        f"{base_url}/label",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and message in detail and "\n" not in detail
    assert {t: reporting_db.table_rows(db, t) for t in TABLES} == before


def test_oversized_body_gets_413_declared_or_chunked(base_url):
    big = {"paragraphs": ["word " * 5000]}  # about 25 kB, over the 20 kB limit
    answer = requests.post(f"{base_url}/label", json=big, timeout=10)
    assert answer.status_code == 413
    assert answer.json()["detail"] == "request body is larger than 20000 bytes"

    def chunks():  # no Content-Length: the server must count what arrives
        yield b'{"paragraphs": ["'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"]}'

    answer = requests.post(
        f"{base_url}/label",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 413
    assert "larger than 20000 bytes" in answer.json()["detail"]


def test_document_has_latest_paragraphs_rule_labels_and_this_models_predictions(base_url):
    answer = requests.get(f"{base_url}/documents/set-atorva", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    set_id, version, title, rows = reporting_db.LABELS[1]
    assert (body["set_id"], body["version"], body["title"]) == (set_id, version, title)
    assert [p["rule_label"] for p in body["paragraphs"]] == [r[3] for r in rows]
    assert [p["text"] for p in body["paragraphs"]] == [r[2] for r in rows]
    predicted = [p["prediction"] for p in body["paragraphs"]]
    assert all(p["label"] == "metabolism" and p["confidence"] == 0.41 for p in predicted[:3])
    assert all(set(p["probs"]) == set(CLASSES) for p in predicted[:3])
    assert predicted[3:] == [None] * (len(rows) - 3)  # other models' predictions are not shown


def test_document_without_pk_section_and_unknown_set_id(base_url):
    empty = requests.get(f"{base_url}/documents/set-nopk", timeout=10)
    assert empty.status_code == 200 and empty.json()["paragraphs"] == []
    missing = requests.get(f"{base_url}/documents/no-such-set", timeout=10)
    assert missing.status_code == 404
    assert "set_id 'no-such-set' is not in the database" in missing.json()["detail"]


def test_missing_database_is_503_and_health_degraded(classifier_dir, tmp_path):
    app = create_app(tmp_path / "absent.duckdb", classifier_dir)
    with LiveServer(app) as url:
        health = requests.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "degraded"
        assert "database does not exist" in health["database_error"]
        answer = requests.get(f"{url}/documents/set-atorva", timeout=10)
        assert answer.status_code == 503
        assert "database does not exist" in answer.json()["detail"]
    assert not (tmp_path / "absent.duckdb").exists()


def test_missing_model_folder_fails_before_serving(tmp_path, db):
    with pytest.raises(AdmeError, match="model folder does not exist"):
        create_app(db, tmp_path / "no-model")
    result = CliRunner().invoke(
        cli_app, ["serve", "--model", str(tmp_path / "no-model"), "--db", str(db)]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "model folder does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1
