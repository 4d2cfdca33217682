"""The model-folder contract (adme.json), safe TF-IDF folders and the one inference path.

Real parts: the shipped sample ingested into DuckDB, real `adme train` runs (TF-IDF, and a
tiny BERT for one epoch), real `adme label` into the same file.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adme.cli import app
from adme.errors import AdmeError
from adme.inference import InferenceOptions, load_model
from adme.label import label
from adme.model_folder import (
    FORMAT_VERSION,
    KINDS,
    encoder_source,
    looks_like_hub_id,
    read_info,
)
from adme.runs import score
from adme.split import load_split, make_split
from adme.tfidf import new_pipeline
from adme.train import train
from tests.label_helpers import table_counts
from tests.train_helpers import table_rows

CPU = InferenceOptions(device="cpu")


@pytest.fixture(scope="module")
def trained(sample_db_template, tmp_path_factory) -> dict[str, Path]:
    """The sample split 'natural' and one TF-IDF run on it (its folder and database)."""
    folder = tmp_path_factory.mktemp("trained")
    db = folder / "adme.duckdb"
    shutil.copyfile(sample_db_template, db)
    make_split(db, "natural", seed=0)
    train(db, split="natural", model=None, method="tfidf", output=folder / "tfidf", seeds=(3,))
    return {"db": db, "tfidf": folder / "tfidf"}


def copy_db(trained: dict[str, Path], tmp_path: Path) -> Path:
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(trained["db"], db)
    return db


def stored_test_scores(db: Path, folder: Path, run_id: str):
    """Scores of the stored predictions on the run's test part, and the run's own test scores."""
    data = load_split(db, "natural")
    model_id = load_model(folder, CPU).model_id
    rows = dict(
        table_rows(db, "SELECT paragraph_id, label FROM predictions WHERE model_id = ?", [model_id])
    )
    test = data.parts["test"]
    predicted = [data.classes.index(rows[pid]) for pid in test.paragraph_ids]
    recomputed = score(test.labels, predicted, data.classes)
    recorded = dict(
        table_rows(
            db,
            "SELECT class, f1 FROM metrics WHERE run_id = ? AND part = 'test'",
            [run_id],
        )
    )
    return recomputed, recorded


# --- adme.json --------------------------------------------------------------------------------


def test_train_writes_a_versioned_description_of_the_folder(trained):
    info = json.loads((trained["tfidf"] / "adme.json").read_text())
    assert info["format"] == "adme-model" and info["format_version"] == FORMAT_VERSION
    assert info["kind"] == "tfidf" and info["method"] == "tfidf" and info["split"] == "natural"
    data = load_split(trained["db"], "natural")
    assert info["classes"] == list(data.classes)
    run_ids = table_rows(trained["db"], "SELECT run_id FROM runs")
    assert [(info["run_id"],)] == run_ids
    assert set(info["test_scores"]["classes"]) == {*data.classes, "micro", "macro"}
    assert info["created_at"] and info["seed"] == 3


def test_tfidf_folder_holds_no_pickle_and_labels_exactly_like_the_fitted_pipeline(trained):
    folder = trained["tfidf"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "adme.json",
        "metrics.json",
        "tfidf.json",
        "tfidf.safetensors",
    ]
    data = load_split(trained["db"], "natural")
    pipeline = new_pipeline(10.0, 3).fit(data.parts["train"].texts, data.parts["train"].labels)
    texts = [t for part in data.parts.values() for t in part.texts]
    loaded = load_model(folder, CPU)
    assert loaded.classes == data.classes
    np.testing.assert_allclose(
        loaded.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-9
    )


def test_tfidf_train_then_label_stores_what_the_run_scored(trained, tmp_path):
    db = copy_db(trained, tmp_path)
    summary = label(db, trained["tfidf"], progress=False)
    assert summary.paragraphs == table_rows(db, "SELECT count(*) FROM paragraphs")[0][0] > 0
    recomputed, recorded = stored_test_scores(
        db, trained["tfidf"], read_info(trained["tfidf"]).run_id
    )
    assert {k: recomputed.f1(k) for k in recorded} == pytest.approx(recorded, abs=1e-12)


@pytest.mark.slow
def test_bert_train_then_label_stores_what_the_run_scored(trained, tiny_model_dir, tmp_path):
    db = copy_db(trained, tmp_path)
    folder = tmp_path / "bert"
    (run,) = train(
        db,
        split="natural",
        model=str(tiny_model_dir),
        method="vanilla",
        output=folder,
        epochs=1,
        lr=1e-3,
        max_length=48,
        progress=False,
    ).runs
    info = read_info(folder)
    assert (info.kind, info.max_length, info.run_id) == ("bert", 48, run.run_id)
    # max_length comes from adme.json (no note); full precision is the path train scored with
    summary = label(db, folder, precision="full", progress=False)
    assert summary.notes == [] and summary.paragraphs > 0
    recomputed, recorded = stored_test_scores(db, folder, run.run_id)
    assert {k: recomputed.f1(k) for k in recorded} == pytest.approx(recorded, abs=1e-12)
    overridden = load_model(folder, InferenceOptions(device="cpu", max_length=64))
    assert overridden.max_length == 64
    assert overridden.notes == [
        f"--max-length 64 overrides the model's 48 (from {folder}/adme.json)"
    ]


# --- bad folders: one line, nothing stored ----------------------------------------------------


def edited(folder: Path, tmp_path: Path, **changes) -> Path:
    """A copy of `folder` whose adme.json has `changes` applied."""
    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    info = json.loads((copy / "adme.json").read_text())
    (copy / "adme.json").write_text(json.dumps(info | changes))
    return copy


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"kind": "xgboost"},
            "unknown model kind 'xgboost' \\(known kinds: " + ", ".join(sorted(KINDS)),
        ),
        ({"format_version": FORMAT_VERSION + 1}, "written by a newer adme"),
        ({"format": "other"}, "not an adme model description"),
        ({"classes": ["only"]}, "classes must be a list of at least two names"),
    ],
)
def test_a_bad_description_is_one_line_and_labels_nothing(trained, tmp_path, changes, message):
    db = copy_db(trained, tmp_path)
    before = table_counts(db)
    with pytest.raises(AdmeError, match=message) as error:
        label(db, edited(trained["tfidf"], tmp_path, **changes), progress=False)
    assert "\n" not in str(error.value)
    assert table_counts(db) == before


def test_missing_and_empty_folders_and_old_pickles_are_refused(tmp_path):
    with pytest.raises(AdmeError, match="model folder does not exist"):
        read_info(tmp_path / "nowhere")
    with pytest.raises(AdmeError, match="not an adme model folder"):
        read_info(tmp_path)
    (tmp_path / "tfidf_logreg.joblib").write_bytes(b"\x80\x04")
    with pytest.raises(AdmeError, match="no longer loads pickles"):
        read_info(tmp_path)


def test_a_tfidf_folder_missing_its_arrays_is_refused(trained, tmp_path):
    copy = edited(trained["tfidf"], tmp_path)
    (copy / "tfidf.safetensors").unlink()
    with pytest.raises(AdmeError, match="tfidf.safetensors is missing"):
        load_model(copy, CPU)


def test_a_folder_without_adme_json_is_read_as_an_older_bert_folder_and_says_so(
    tiny_model_dir, tmp_path
):
    from tests.label_helpers import build_classifier

    folder = build_classifier(tiny_model_dir, tmp_path / "old-clf")
    classifier = load_model(folder, CPU)
    assert classifier.kind == "bert" and classifier.max_length == 128
    assert any("no adme.json" in note for note in classifier.notes)


def test_cli_label_with_a_tfidf_folder_prints_the_summary(trained, tmp_path):
    db = copy_db(trained, tmp_path)
    result = CliRunner().invoke(
        app, ["label", "--model", str(trained["tfidf"]), "--db", str(db), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "paragraphs labelled" in result.output


# --- a base model given on the command line: folder or hub id ------------------------------


@pytest.mark.parametrize(
    "value", ["models/nope", "./nope", "/no/such/model", "~/no-such-model", "a/b/c", "has space"]
)
def test_a_path_like_model_that_is_missing_fails_at_once(value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()  # `models/nope` beside a models/ folder is a path
    monkeypatch.delenv("HF_HUB_OFFLINE")  # even where the hub may be asked
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    with pytest.raises(AdmeError, match=r"model folder does not exist$"):
        encoder_source(value)


def test_folders_are_used_and_hub_shaped_ids_go_to_the_hub_unless_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"")
    assert encoder_source("mine") == "mine"
    with pytest.raises(AdmeError, match="not a model folder"):
        encoder_source("weights.bin")
    assert looks_like_hub_id("bert-base-uncased") and looks_like_hub_id("dmis-lab/biobert-v1.1")
    assert not looks_like_hub_id("mine/model")  # mine/ is a folder here
    # HF_HUB_OFFLINE=1 (set for every test): a hub id not in the local cache is never tried
    with pytest.raises(AdmeError, match=r"not in the hub cache \(HF_HUB_OFFLINE=1"):
        encoder_source("adme-tests/no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert encoder_source("adme-tests/no-such-model") == "adme-tests/no-such-model"


def test_train_with_a_missing_model_folder_is_one_line_with_no_hub_lookup(
    sample_db, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    monkeypatch.delenv("HF_HUB_OFFLINE")  # a hub lookup would retry for about a minute
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    before = table_counts(sample_db)
    for command in (["train", "--split", "natural"], ["pretrain", "--output", "out"]):
        started = time.perf_counter()
        result = CliRunner().invoke(
            app, [*command, "--model", "models/nope", "--db", str(sample_db)]
        )
        assert result.exit_code == 1
        assert result.output == "error: models/nope: model folder does not exist\n"
        assert time.perf_counter() - started < 10
    assert table_counts(sample_db) == before
