"""The `ensemble` model kind: TF-IDF + BERT mixed, the weight chosen on validation only.

Real parts: the shipped sample ingested into DuckDB, real `adme train` runs (TF-IDF, and the
tiny BERT for one epoch), `adme ensemble`, then `adme label`, `adme evaluate` and `adme serve`
on the ensemble folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from adme.cli import app
from adme.ensemble import WEIGHT_GRID, build_ensemble, choose_weight, mix
from adme.errors import AdmeError
from adme.evaluate import evaluate
from adme.inference import InferenceOptions, load_model, predict_texts
from adme.label import label
from adme.model_folder import read_info
from adme.runs import score
from adme.serve import create_app
from adme.split import load_split, make_split
from adme.train import train
from tests.test_serve import LiveServer
from tests.train_helpers import table_rows

CPU = InferenceOptions(device="cpu")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def members(sample_db_template, tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """Split 'natural' of the sample, a TF-IDF run and a one-epoch tiny-BERT run on it."""
    folder = tmp_path_factory.mktemp("ensemble")
    db = folder / "adme.duckdb"
    shutil.copyfile(sample_db_template, db)
    make_split(db, "natural", seed=0, validation_size=0.2)
    train(db, split="natural", model=None, method="tfidf", output=folder / "tfidf", seeds=(3,))
    train(
        db,
        split="natural",
        model=str(tiny_model_dir),
        method="vanilla",
        output=folder / "bert",
        seeds=(5,),
        epochs=1,
        lr=1e-3,
        max_length=48,
        progress=False,
    )
    return {"db": db, "tfidf": folder / "tfidf", "bert": folder / "bert", "root": folder}


@pytest.fixture(scope="module")
def built(members, tmp_path_factory) -> dict:
    """One ensemble of the two members, built on a copy of the database."""
    db = tmp_path_factory.mktemp("built") / "adme.duckdb"
    shutil.copyfile(members["db"], db)
    output = db.parent / "ens"
    summary = build_ensemble(
        db, tfidf=members["tfidf"], bert=members["bert"], split="natural", output=output,
        device="cpu",
    )  # fmt: skip
    return {"db": db, "output": output, "summary": summary}


def recorded_test_f1(db: Path, run_id: str) -> dict[str, float]:
    rows = table_rows(
        db, "SELECT class, f1 FROM metrics WHERE run_id = ? AND part = 'test'", [run_id]
    )
    return dict(rows)


def test_the_folder_is_self_contained_and_describes_its_members(built):
    output, summary = built["output"], built["summary"]
    info = read_info(output)
    assert info.kind == "ensemble" and info.method == "ensemble" and info.split == "natural"
    members = info.extra["members"]
    assert [m["folder"] for m in members] == ["tfidf", "bert"]
    w = summary.choice.bert_weight
    assert [m["weight"] for m in members] == pytest.approx([1 - w, w])
    assert read_info(output / "tfidf").kind == "tfidf" and read_info(output / "bert").kind == "bert"
    moved = output.parent / "moved-ens"
    shutil.copytree(output, moved)
    a = load_model(output, CPU)
    b = load_model(moved, CPU)
    texts = ["Metformin is excreted unchanged in the urine.", "Cmax was reached at 2 h."]
    np.testing.assert_array_equal(a.predict_proba(texts), b.predict_proba(texts))
    assert a.model_id.split("@")[1] == b.model_id.split("@")[1] == summary.model_id.split("@")[1]


def test_probabilities_are_the_weighted_mix_of_the_members(built):
    output = built["output"]
    ensemble = load_model(output, CPU)
    tfidf = load_model(output / "tfidf", CPU)
    bert = load_model(output / "bert", CPU)
    texts = load_split(built["db"], "natural").parts["test"].texts[:20]
    w = built["summary"].choice.bert_weight
    expected = (1 - w) * tfidf.predict_proba(texts) + w * bert.predict_proba(texts)
    np.testing.assert_allclose(ensemble.predict_proba(texts), expected, atol=1e-12)
    assert ensemble.predict_proba([]).shape == (0, len(ensemble.classes))


def test_the_weight_is_the_best_on_the_validation_part(built):
    output, summary = built["output"], built["summary"]
    validation = load_split(built["db"], "natural").parts["validation"]
    assert validation.labels
    t = load_model(output / "tfidf", CPU).predict_proba(validation.texts)
    b = load_model(output / "bert", CPU).predict_proba(validation.texts)
    curve = {
        w: f1_score(validation.labels, ((1 - w) * t + w * b).argmax(1), average="macro")
        for w in WEIGHT_GRID
    }
    best = max(curve.values())
    assert summary.choice.bert_weight == min(w for w, f in curve.items() if f == best)
    assert summary.choice.validation_macro_f1 == pytest.approx(curve)


def test_choose_weight_picks_the_validation_argmax_and_the_smaller_weight_on_ties():
    classes = ("a", "b")
    labels = [0, 0, 1, 1]
    tfidf = np.array([[0.6, 0.4], [0.6, 0.4], [0.7, 0.3], [0.4, 0.6]])  # 3 of 4 right
    bert = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])  # all right
    choice = choose_weight(labels, tfidf, bert, classes)
    # row 3 flips to b once w*0.9 + (1-w)*0.3 > 0.5, i.e. w > 1/3
    assert choice.bert_weight == 0.35
    assert choice.validation_macro_f1[0.0] < choice.validation_macro_f1[0.35] == 1.0
    same = choose_weight(labels, bert, bert, classes)
    assert same.bert_weight == 0.0  # every weight ties: the smaller BERT weight wins


def test_label_stores_what_the_run_scored_on_its_test_part(built, tmp_path):
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(built["db"], db)
    output, summary = built["output"], built["summary"]
    # full precision: the run was scored with the full model; label's CPU default reduces it
    result = label(db, output, progress=False, device="cpu", precision="full")
    assert result.paragraphs > 0
    data = load_split(db, "natural")
    model_id = load_model(output, CPU).model_id
    rows = dict(
        table_rows(db, "SELECT paragraph_id, label FROM predictions WHERE model_id = ?", [model_id])
    )
    test = data.parts["test"]
    stored = score(
        test.labels, [data.classes.index(rows[p]) for p in test.paragraph_ids], data.classes
    )
    recorded = recorded_test_f1(db, summary.run_id)
    assert set(recorded) == {*data.classes, "micro", "macro"}
    assert {k: stored.f1(k) for k in recorded} == pytest.approx(recorded, abs=1e-12)
    evaluated = evaluate(db, output, "split:natural", device="cpu", precision="full")
    assert {k: evaluated.scores.f1(k) for k in recorded} == pytest.approx(recorded, abs=1e-12)
    assert summary.scores["test"]["ensemble"].f1("macro") == pytest.approx(recorded["macro"])


def test_serve_answers_with_the_ensemble(built):
    output = built["output"]
    texts = ["The mean volume of distribution is 381 L.", "Excreted in urine."]
    direct = predict_texts(load_model(output, CPU), texts)
    with LiveServer(create_app(built["db"], output, device="cpu")) as url:
        answer = requests.post(f"{url}/label", json={"paragraphs": texts}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_id"] == load_model(output, CPU).model_id
    assert [p["label"] for p in body["predictions"]] == [d.label for d in direct]


def test_cli_builds_prints_and_rebuilds_in_place(members, tmp_path):
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(members["db"], db)
    args = [
        "ensemble", "--tfidf", str(members["tfidf"]), "--bert", str(members["bert"]),
        "--split", "natural", "--output", str(tmp_path / "ens"), "--db", str(db),
        "--device", "cpu",
    ]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "chosen by macro-F1 on the validation part" in first.output
    assert "test" in first.output and "ensemble" in first.output
    again = CliRunner().invoke(app, args)  # a rerun rewrites the folder; same weight, same id
    assert again.exit_code == 0, again.output
    assert first.output.splitlines()[0] == again.output.splitlines()[0]
    runs = table_rows(db, "SELECT method FROM runs WHERE method = 'ensemble'")
    assert len(runs) == 2


def _refused(members, tmp_path, message: str, **overrides) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(members["db"], db)
    before = table_rows(db, "SELECT count(*) FROM runs")
    kwargs = {
        "tfidf": members["tfidf"],
        "bert": members["bert"],
        "split": "natural",
        "output": tmp_path / "ens",
        "device": "cpu",
    } | overrides
    with pytest.raises(AdmeError, match=message) as caught:
        build_ensemble(db, **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ens").exists()
    assert table_rows(db, "SELECT count(*) FROM runs") == before


def test_members_with_another_class_order_are_refused(members, tmp_path):
    other = tmp_path / "reordered"
    shutil.copytree(members["tfidf"], other)
    manifest = json.loads((other / "adme.json").read_text())
    manifest["classes"] = list(reversed(manifest["classes"]))
    (other / "adme.json").write_text(json.dumps(manifest))
    _refused(members, tmp_path, "class order .* differs from the TF-IDF member", tfidf=other)


def test_a_member_of_another_split_or_kind_is_refused(members, tmp_path):
    _refused(members, tmp_path / "a", "--tfidf needs a tfidf model folder", tfidf=members["bert"])
    _refused(members, tmp_path / "b", "--bert needs a bert model folder", bert=members["tfidf"])
    moved = tmp_path / "other-split"
    shutil.copytree(members["tfidf"], moved)
    manifest = json.loads((moved / "adme.json").read_text())
    manifest["split"] = "bydrug"
    (moved / "adme.json").write_text(json.dumps(manifest))
    _refused(members, tmp_path / "c", "trained on split 'bydrug', not 'natural'", tfidf=moved)


def test_cli_refusal_is_one_line_and_exit_1(members, tmp_path):
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(members["db"], db)
    result = CliRunner().invoke(
        app,
        ["ensemble", "--tfidf", str(members["bert"]), "--bert", str(members["bert"]),
         "--split", "natural", "-o", str(tmp_path / "e"), "--db", str(db)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: ") and "needs a tfidf" in result.output


def test_a_damaged_member_list_is_one_line(built, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(built["output"], broken)
    manifest = json.loads((broken / "adme.json").read_text())
    manifest["members"][1]["folder"] = "../bert"
    (broken / "adme.json").write_text(json.dumps(manifest))
    with pytest.raises(AdmeError, match="is not a sub-folder name"):
        load_model(broken, CPU)
    manifest["members"][1]["folder"] = "bert"
    manifest["members"][1]["weight"] = 0.9
    (broken / "adme.json").write_text(json.dumps(manifest))
    with pytest.raises(AdmeError, match="weights sum to"):
        load_model(broken, CPU)


def test_mix_is_the_weighted_sum():
    a, b = np.array([[0.2, 0.8]]), np.array([[0.6, 0.4]])
    np.testing.assert_allclose(mix([a, b], [0.75, 0.25]), [[0.3, 0.7]])
