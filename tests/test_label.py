"""adme label: batched inference into the predictions table, on real labels and real models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import store
from adme.cli import app
from adme.errors import AdmeError
from adme.fetch import fetch_from_path
from adme.inference import InferenceOptions, load_model, predict_texts
from adme.label import label, write_predictions
from adme.model_id import model_id
from adme.rules import BINARY_CLASSES
from tests.label_helpers import (
    build_classifier,
    lock_database,
    table_counts,
)

ROOT = Path(__file__).resolve().parent.parent
NEW_SPL = ROOT / "data" / "new"


@pytest.fixture(scope="session")
def classifier_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """Five-class classifier (untrained head, fixed seed) on the tiny BERT."""
    return build_classifier(tiny_model_dir, tmp_path_factory.mktemp("clf") / "adme-clf", seed=1)


@pytest.fixture(scope="session")
def other_classifier_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A second five-class classifier with different weights (another seed)."""
    return build_classifier(tiny_model_dir, tmp_path_factory.mktemp("clf2") / "adme-clf", seed=2)


@pytest.fixture(scope="session")
def sharp_classifier_dir(classifier_dir, new_labels_db_template, tmp_path_factory) -> Path:
    """The five-class classifier with its head centred and scaled on the held-back paragraphs.

    The untrained tiny encoder maps every paragraph to nearly the same pooled vector, so the
    plain head gives all of them the same label and confidence to five decimals, which cannot
    show a prediction stored against the wrong paragraph. Here logits = k W (h - mean h).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    texts = paragraph_texts(new_labels_db_template)
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        pooled = model.bert(**batch).pooler_output
        centre = pooled.mean(dim=0)
        weight = model.classifier.weight
        scale = 2.0 / float(((pooled - centre) @ weight.T).std())
        model.classifier.weight.mul_(scale)
        model.classifier.bias.copy_(-(centre @ model.classifier.weight.T))
    folder = tmp_path_factory.mktemp("sharp") / "adme-clf-sharp"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def trained_classifier_dir(classifier_dir, sample_db_template, tmp_path_factory) -> Path:
    """The five-class tiny classifier trained briefly on the sample's rule labels.

    Its labels vary with the paragraph and its margins are those of a trained model, so the
    reduced-precision tests compare labels that mean something (an untrained head gives every
    paragraph the same label; the sharp head amplifies any rounding on purpose).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with store.connect(sample_db_template, read_only=True) as con:
        rows = con.execute(
            "SELECT text, rule_label FROM paragraphs WHERE rule_label IS NOT NULL "
            "ORDER BY paragraph_id"
        ).fetchall()
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)  # 8 epochs: ~10 s, labels vary
    model.train()
    for _ in range(8):
        for start in range(0, len(rows), 32):
            chunk = rows[start : start + 32]
            batch = tokenizer(
                [t for t, _ in chunk],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            labels = torch.tensor([model.config.label2id[lab] for _, lab in chunk])
            model(**batch, labels=labels).loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    folder = tmp_path_factory.mktemp("trained") / "adme-clf-trained"
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def new_labels_db_template(tmp_path_factory) -> Path:
    """data/new/ (six held-back real labels) ingested once by fetch's code; copy before writing."""
    folder = tmp_path_factory.mktemp("new-labels-db")
    fetched = fetch_from_path(folder / "adme.duckdb", NEW_SPL, folder / "cache", progress=False)
    assert fetched.paragraphs_added > 0 and not fetched.rejects
    return folder / "adme.duckdb"


@pytest.fixture
def db_with_paragraphs(new_labels_db_template, tmp_path) -> Path:
    """A private copy of the held-back labels' database, with no predictions yet."""
    db_path = tmp_path / "adme.duckdb"
    shutil.copyfile(new_labels_db_template, db_path)
    return db_path


def predictions(db_path: Path) -> list[tuple]:
    with store.connect(db_path, read_only=True) as con:
        return con.execute(
            "SELECT paragraph_id, model_id, label, confidence, probs, created_at "
            "FROM predictions ORDER BY model_id, paragraph_id"
        ).fetchall()


def paragraph_ids(db_path: Path) -> list[str]:
    with store.connect(db_path, read_only=True) as con:
        rows = con.execute("SELECT paragraph_id FROM paragraphs ORDER BY paragraph_id")
        return [pid for (pid,) in rows.fetchall()]


def load_classifier(folder: Path, device: str = "cpu", **options):
    """A model folder loaded through adme.inference with these options."""
    return load_model(folder, InferenceOptions(device=device, **options))


def paragraph_texts(db_path: Path) -> list[str]:
    with store.connect(db_path, read_only=True) as con:
        rows = con.execute("SELECT text FROM paragraphs ORDER BY paragraph_id").fetchall()
        return [text for (text,) in rows]


# --- load_model / predict_texts --------------------------------------------------------


def test_batched_predictions_come_back_in_input_order(sharp_classifier_dir, db_with_paragraphs):
    # Full precision: `auto` is int8 on a CPU without native bf16 (an AVX2-only EPYC), and
    # int8 quantises a batch's activations together, so a paragraph's probabilities move with
    # its batch-mates; the sharpened head magnifies that past any tolerance meant for order.
    classifier = load_classifier(
        sharp_classifier_dir, batch_size=8, max_length=128, precision="full"
    )
    texts = paragraph_texts(db_with_paragraphs)[:40]
    assert len({len(t) for t in texts}) > 10  # lengths vary, so sorting reorders them
    batched = predict_texts(classifier, texts)
    one = load_classifier(sharp_classifier_dir, batch_size=1, precision="full")
    one_at_a_time = [predict_texts(one, [t])[0] for t in texts]
    assert len({round(p.confidence, 2) for p in one_at_a_time}) > 10  # a swap would show
    for got, alone in zip(batched, one_at_a_time, strict=True):
        # tolerance: the sharpened head magnifies the float noise of other padding
        assert got.confidence == pytest.approx(alone.confidence, abs=2e-3)
        assert got.probs == pytest.approx(alone.probs, abs=2e-3)


def test_prediction_probs_cover_every_class_and_confidence_is_their_max(classifier_dir):
    classifier = load_classifier(classifier_dir)
    (prediction,) = predict_texts(classifier, ["Metformin is excreted unchanged in the urine."])
    assert set(prediction.probs) == set(classifier.classes)
    assert sum(prediction.probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert prediction.confidence == max(prediction.probs.values())
    assert prediction.probs[prediction.label] == prediction.confidence


def test_max_length_beyond_the_model_is_capped(classifier_dir):
    long_text = " ".join(["Cmax increased twofold after a high-fat meal."] * 100)
    capped_model = load_classifier(classifier_dir, max_length=4096)
    assert len(capped_model.tokenizer(long_text)["input_ids"]) > 512
    (capped,) = predict_texts(capped_model, [long_text])
    (at_limit,) = predict_texts(load_classifier(classifier_dir, max_length=128), [long_text])
    assert capped == at_limit


def test_tokeniser_workers_give_the_same_predictions(classifier_dir, db_with_paragraphs):
    texts = paragraph_texts(db_with_paragraphs)[:64]
    in_process = predict_texts(load_classifier(classifier_dir, batch_size=16, workers=0), texts)
    with_workers = predict_texts(load_classifier(classifier_dir, batch_size=16, workers=2), texts)
    assert [p.label for p in with_workers] == [p.label for p in in_process]
    assert [p.confidence for p in with_workers] == pytest.approx(
        [p.confidence for p in in_process], abs=1e-6
    )


def test_missing_model_folder_is_one_line_error(tmp_path):
    with pytest.raises(AdmeError, match="model folder does not exist") as error:
        load_classifier(tmp_path / "no-such-model")
    assert "\n" not in str(error.value)


def test_masked_lm_folder_is_not_a_classifier(tiny_model_dir):
    with pytest.raises(AdmeError, match="not a sequence classifier") as error:
        load_classifier(tiny_model_dir)
    assert "BertForMaskedLM" in str(error.value)


def test_folder_without_config_is_refused(classifier_dir, tmp_path):
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    shutil.copy(classifier_dir / "model.safetensors", weights_only / "model.safetensors")
    with pytest.raises(AdmeError, match="no adme.json, no config.json"):
        load_classifier(weights_only)


# --- label into the database ----------------------------------------------------------------


def test_label_without_path_predicts_every_stored_paragraph(classifier_dir, sample_db):
    summary = label(sample_db, classifier_dir, workers=0, progress=False)
    rows = predictions(sample_db)
    assert summary.paragraphs == len(paragraph_ids(sample_db)) > 0
    assert sorted(r[0] for r in rows) == paragraph_ids(sample_db)
    assert {r[1] for r in rows} == {model_id(classifier_dir)}
    for _, _, predicted, confidence, probs, _ in rows:
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert confidence == pytest.approx(max(probs.values()))
        assert probs[predicted] == pytest.approx(confidence)
    assert sum(summary.per_class.values()) == len(rows)
    assert summary.documents == table_counts(sample_db)["documents"] - _empty_docs(sample_db)
    assert f"{len(rows)} paragraphs labelled" in summary.line()


def _empty_docs(db_path: Path) -> int:
    with store.connect(db_path, read_only=True) as con:
        return con.execute(
            "SELECT count(*) FROM documents d "
            "WHERE NOT EXISTS (SELECT 1 FROM paragraphs p WHERE p.document_id = d.document_id)"
        ).fetchone()[0]


def test_stored_predictions_match_predict_texts(sharp_classifier_dir, db_with_paragraphs):
    # full precision: int8's activation scale depends on the batch, and batch 7 vs 64 is the
    # point here (each row lands on its own paragraph), not the precision
    label(
        db_with_paragraphs,
        sharp_classifier_dir,
        batch_size=7,
        workers=0,
        precision="full",
        progress=False,
    )
    stored = {r[0]: r[2:5] for r in predictions(db_with_paragraphs)}
    classifier = load_classifier(sharp_classifier_dir, batch_size=64, precision="full")
    expected = predict_texts(classifier, paragraph_texts(db_with_paragraphs))
    # each row must land on its own paragraph after the length sorting: that shows only if
    # paragraphs get different labels and confidences
    assert len({p.label for p in expected}) > 1
    assert len({round(p.confidence, 3) for p in expected}) > len(expected) // 2
    for pid, want in zip(paragraph_ids(db_with_paragraphs), expected, strict=True):
        label_, confidence, probs = stored[pid]
        # the scaled head magnifies the float noise of other padding; a misplaced row is off by
        # far more than this
        assert confidence == pytest.approx(want.confidence, abs=2e-3), pid
        assert probs == pytest.approx(want.probs, abs=2e-3), pid
        top, second = sorted(want.probs.values())[-2:][::-1]
        if top - second > 4e-3:
            assert label_ == want.label, pid


def test_labelling_twice_adds_nothing(classifier_dir, db_with_paragraphs):
    label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
    first = predictions(db_with_paragraphs)
    assert len(first) == len(paragraph_ids(db_with_paragraphs)) > 0  # the first run stored rows
    again = label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
    assert again.paragraphs == 0
    assert predictions(db_with_paragraphs) == first  # same rows, same created_at


def test_relabel_rewrites_this_models_rows(classifier_dir, db_with_paragraphs):
    label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
    first = predictions(db_with_paragraphs)
    summary = label(db_with_paragraphs, classifier_dir, relabel=True, workers=0, progress=False)
    second = predictions(db_with_paragraphs)
    assert summary.paragraphs == len(first) == len(second)
    assert [r[:3] for r in second] == [r[:3] for r in first]
    for new, old in zip(second, first, strict=True):
        # the same weights on the same texts; batch padding may move the last float bits
        assert new[3] == pytest.approx(old[3], abs=1e-5)
        assert new[4] == pytest.approx(old[4], abs=1e-5)
    assert all(new[5] > old[5] for new, old in zip(second, first, strict=True))


def test_two_models_sit_side_by_side(classifier_dir, other_classifier_dir, db_with_paragraphs):
    assert model_id(classifier_dir) != model_id(other_classifier_dir)
    label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
    first = predictions(db_with_paragraphs)
    label(db_with_paragraphs, other_classifier_dir, workers=0, progress=False)
    rows = predictions(db_with_paragraphs)
    n = len(paragraph_ids(db_with_paragraphs))
    assert len(rows) == 2 * n
    assert {r[1] for r in rows} == {model_id(classifier_dir), model_id(other_classifier_dir)}
    assert [r for r in rows if r[1] == model_id(classifier_dir)] == first


def test_interrupted_run_resumes_without_duplicates(classifier_dir, db_with_paragraphs):
    # what a run killed after its first committed chunk leaves behind
    classifier = load_classifier(classifier_dir)
    ids = paragraph_ids(db_with_paragraphs)[:10]
    texts = paragraph_texts(db_with_paragraphs)[:10]
    done = list(zip(ids, predict_texts(classifier, texts), strict=True))
    with store.connect(db_with_paragraphs) as con:
        write_predictions(con, classifier.model_id, done)
    kept = predictions(db_with_paragraphs)
    summary = label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
    rows = predictions(db_with_paragraphs)
    assert summary.paragraphs == len(paragraph_ids(db_with_paragraphs)) - 10
    assert sorted(r[0] for r in rows) == paragraph_ids(db_with_paragraphs)
    assert [r for r in rows if r[0] in set(ids)] == kept


def test_binary_model_is_accepted(tiny_model_dir, tmp_path, db_with_paragraphs):
    binary = build_classifier(tiny_model_dir, tmp_path / "binary", labels=BINARY_CLASSES)
    summary = label(db_with_paragraphs, binary, workers=0, progress=False)
    rows = predictions(db_with_paragraphs)
    assert len(rows) == summary.paragraphs == len(paragraph_ids(db_with_paragraphs)) > 0
    assert {r[2] for r in rows} <= set(BINARY_CLASSES)


# --- bad input: one line, nothing stored ------------------------------------------------------


def test_model_with_other_labels_is_refused(tiny_model_dir, tmp_path, db_with_paragraphs):
    unnamed = build_classifier(tiny_model_dir, tmp_path / "unnamed", labels=None)
    before = table_counts(db_with_paragraphs)
    with pytest.raises(AdmeError, match="LABEL_0, LABEL_1, LABEL_2.*not the database's classes"):
        label(db_with_paragraphs, unnamed, NEW_SPL, workers=0, progress=False)
    assert table_counts(db_with_paragraphs) == before


def test_masked_lm_model_stores_nothing(tiny_model_dir, db_with_paragraphs):
    before = table_counts(db_with_paragraphs)
    with pytest.raises(AdmeError, match="not a sequence classifier"):
        label(db_with_paragraphs, tiny_model_dir, NEW_SPL, workers=0, progress=False)
    assert table_counts(db_with_paragraphs) == before


def test_missing_model_stores_nothing(tmp_path, db_with_paragraphs):
    before = table_counts(db_with_paragraphs)
    with pytest.raises(AdmeError, match="does not exist"):
        label(db_with_paragraphs, tmp_path / "missing", NEW_SPL, workers=0, progress=False)
    assert table_counts(db_with_paragraphs) == before


def test_locked_database_is_one_line_error(classifier_dir, db_with_paragraphs):
    before = table_counts(db_with_paragraphs)
    holder = lock_database(db_with_paragraphs)
    try:
        with pytest.raises(AdmeError, match="locked by another process") as error:
            label(db_with_paragraphs, classifier_dir, workers=0, progress=False)
        assert "\n" not in str(error.value)
    finally:
        holder.kill()
        holder.wait()
    assert table_counts(db_with_paragraphs) == before


# --- with a PATH: fetch's own code stores the documents first ----------------------------------


def test_label_path_stores_documents_and_one_prediction_per_paragraph(classifier_dir, tmp_path):
    db = tmp_path / "adme.duckdb"
    summary = label(
        db, classifier_dir, NEW_SPL, cache_dir=tmp_path / "cache", workers=0, progress=False
    )
    counts = table_counts(db)
    assert counts["documents"] == summary.documents == len(list(NEW_SPL.glob("*.xml")))
    assert counts["predictions"] == counts["paragraphs"] == summary.paragraphs > 0
    again = label(db, classifier_dir, NEW_SPL, cache_dir=tmp_path / "cache", progress=False)
    assert again.paragraphs == 0
    assert table_counts(db) == counts


def test_label_path_classifies_only_that_inputs_paragraphs(classifier_dir, sample_db, tmp_path):
    before = table_counts(sample_db)
    summary = label(
        sample_db, classifier_dir, NEW_SPL, cache_dir=tmp_path / "cache", workers=0, progress=False
    )
    after = table_counts(sample_db)
    new_paragraphs = after["paragraphs"] - before["paragraphs"]
    assert after["predictions"] == summary.paragraphs == new_paragraphs > 0
    with store.connect(sample_db, read_only=True) as con:
        labelled_set_ids = con.execute(
            "SELECT DISTINCT p.set_id FROM predictions JOIN paragraphs p USING (paragraph_id)"
        ).fetchall()
    new_set_ids = {path.name.split("_v")[0].lower() for path in NEW_SPL.glob("*.xml")}
    assert {set_id.lower() for (set_id,) in labelled_set_ids} <= new_set_ids


def test_missing_database_without_path_is_an_error_and_creates_nothing(classifier_dir, tmp_path):
    missing = tmp_path / "typo.duckdb"
    with pytest.raises(AdmeError, match="database does not exist") as error:
        label(missing, classifier_dir, workers=0, progress=False)
    assert "\n" not in str(error.value)
    assert not missing.exists()


def test_empty_folder_is_one_line_error(classifier_dir, db_with_paragraphs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = table_counts(db_with_paragraphs)
    with pytest.raises(AdmeError) as error:
        label(db_with_paragraphs, classifier_dir, empty, cache_dir=tmp_path / "c", progress=False)
    assert "\n" not in str(error.value)
    assert table_counts(db_with_paragraphs) == before


# --- the command ------------------------------------------------------------------------------


def test_cli_label_prints_summary_and_errors_on_one_line(classifier_dir, db_with_paragraphs):
    runner = CliRunner()
    base = ["label", "--db", str(db_with_paragraphs), "--tokenizer-workers", "0", "--no-progress"]
    ok = runner.invoke(app, [*base, "--model", str(classifier_dir)])
    assert ok.exit_code == 0, ok.output
    assert f"{model_id(classifier_dir)}:" in ok.output
    assert "paragraphs labelled" in ok.output
    # the default on the CPU is reduced precision where it can be, and the line says which
    ran = load_classifier(classifier_dir).precision
    assert ok.output.rstrip().endswith("paragraphs/s" + (f" in {ran}" if ran != "full" else ""))
    missing = runner.invoke(app, [*base, "--model", str(db_with_paragraphs.parent / "nope")])
    assert missing.exit_code == 1
    assert missing.output.strip().count("\n") == 0
    assert missing.output.startswith("error: ")


# --- model_id ---------------------------------------------------------------------------------


def test_model_id_is_folder_name_and_weights_hash(classifier_dir, tmp_path):
    import hashlib

    digest = hashlib.sha256((classifier_dir / "model.safetensors").read_bytes()).hexdigest()
    assert model_id(classifier_dir) == f"{classifier_dir.name}@{digest[:12]}"
    moved = shutil.copytree(classifier_dir, tmp_path / "elsewhere" / classifier_dir.name)
    assert model_id(moved) == model_id(classifier_dir)  # moving keeps the id


def test_sharded_checkpoint_has_an_id_that_follows_its_shards(classifier_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    sharded = tmp_path / "sharded"
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    model.save_pretrained(sharded, max_shard_size="20KB")
    assert not (sharded / "model.safetensors").exists()
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 1
    first = model_id(sharded)
    assert first.startswith("sharded@")
    shards[-1].write_bytes(shards[-1].read_bytes()[:-1] + b"\0")
    assert model_id(sharded) != first
    shards[0].unlink()
    with pytest.raises(AdmeError, match="shard\\(s\\) missing"):
        model_id(sharded)


# --- --precision: reduced precision on the CPU, the exact model with full -------------------


def test_full_precision_gives_exactly_the_models_own_probabilities(
    sharp_classifier_dir, db_with_paragraphs
):
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = paragraph_texts(db_with_paragraphs)[:40]
    full = load_classifier(sharp_classifier_dir, precision="full", batch_size=1)
    assert full.precision == "full"
    assert all(p.dtype == torch.float32 for p in full.model.parameters())
    model = AutoModelForSequenceClassification.from_pretrained(sharp_classifier_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(sharp_classifier_dir)
    with torch.no_grad():
        direct = [
            torch.softmax(
                model(**tokenizer(t, truncation=True, max_length=128, return_tensors="pt")).logits,
                dim=-1,
            )[0].numpy()
            for t in texts
        ]
    np.testing.assert_array_equal(full.predict_proba(texts), np.array(direct, dtype=np.float64))


@pytest.mark.slow  # trains the tiny model for ~10 s (once per session)
@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_reduced_precision_agrees_with_full_on_a_trained_tiny_model(
    precision, trained_classifier_dir, sample_db_template, new_labels_db_template
):
    import numpy as np
    import torch

    texts = paragraph_texts(sample_db_template) + paragraph_texts(new_labels_db_template)
    full = load_classifier(trained_classifier_dir, precision="full").predict_proba(texts)
    assert len(set(full.argmax(axis=1).tolist())) >= 3  # labels that vary with the paragraph
    reduced_classifier = load_classifier(trained_classifier_dir, precision=precision)
    assert reduced_classifier.precision == precision
    quantized = torch.ao.nn.quantized.dynamic.Linear
    assert any(isinstance(m, quantized) for m in reduced_classifier.model.modules()) == (
        precision == "int8"
    )
    reduced = reduced_classifier.predict_proba(texts)
    assert np.abs(reduced - full).max() > 1e-5  # it did run differently ...
    assert np.abs(reduced - full).max() < 0.1  # ... close to the full model
    # >= 0.995 is the goal on the shipped sample with a real model (benchmarks/label.py); a
    # tiny, briefly trained model sits closer to its decision boundaries
    assert (reduced.argmax(axis=1) == full.argmax(axis=1)).mean() >= 0.99
    # quantising one load leaves the next full-precision load untouched
    again = load_classifier(trained_classifier_dir, precision="full").predict_proba(texts)
    np.testing.assert_array_equal(again, full)


def test_auto_precision_is_reduced_on_the_cpu_and_full_on_a_gpu(classifier_dir):
    import torch

    from adme.precision import cpu_auto, int8_kernels, native_bf16, resolve_precision

    here = cpu_auto(native_bf16(), int8_kernels())
    assert resolve_precision("auto", torch.device("cpu")) == here
    assert [cpu_auto(b, i) for b, i in ((True, True), (True, False), (False, True))] == [
        "bf16",
        "bf16",
        "int8",
    ]
    assert cpu_auto(False, False) == "full"  # never a precision this CPU cannot run
    assert load_classifier(classifier_dir).precision == resolve_precision(
        "auto", torch.device("cpu")
    )
    assert resolve_precision("auto", torch.device("cuda")) == "full"
    assert resolve_precision("full", torch.device("cuda")) == "full"
    with pytest.raises(AdmeError, match="--precision int8: a CPU option"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(AdmeError, match="--precision fp16: not one of auto, full, int8, bf16"):
        load_classifier(classifier_dir, precision="fp16")


@pytest.mark.parametrize("command", ["label", "evaluate", "serve"])
def test_cli_precision_accepts_only_its_choices(command, classifier_dir, db_with_paragraphs):
    result = CliRunner().invoke(
        app, [command, "--model", str(classifier_dir), "--precision", "fp16"]
    )
    assert result.exit_code == 2, result.output
    assert "'fp16' is not one of auto, full, int8, bf16" in result.output


def test_cli_label_precision_full_stores_the_full_models_probabilities(
    sharp_classifier_dir, db_with_paragraphs
):
    import numpy as np

    args = ["label", "--db", str(db_with_paragraphs), "--model", str(sharp_classifier_dir)]
    ok = CliRunner().invoke(app, [*args, "--precision", "full", "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.rstrip().endswith("paragraphs/s")  # no "in int8" / "in bf16"
    stored = {r[0]: r[4] for r in predictions(db_with_paragraphs)}
    texts = paragraph_texts(db_with_paragraphs)
    classes = load_classifier(sharp_classifier_dir).classes
    rows = np.array([[stored[p][c] for c in classes] for p in paragraph_ids(db_with_paragraphs)])
    full = load_classifier(sharp_classifier_dir, precision="full").predict_proba(texts)
    int8 = load_classifier(sharp_classifier_dir, precision="int8").predict_proba(texts)
    # batches may be composed differently (length ties), so padding noise is allowed; int8's
    # error is far larger
    np.testing.assert_allclose(rows, full, rtol=0, atol=1e-5)
    assert np.abs(rows - int8).max() > 1e-4
