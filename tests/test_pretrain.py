"""adme pretrain: WordPiece + small BERT by masked-language modelling, and the tiny test model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
from typer.testing import CliRunner

from adme import store
from adme.cli import app
from adme.errors import AdmeError
from adme.pretrain import corpus_texts, pretrain
from adme.spl import Document, Paragraph
from tests.tiny_model import TINY_SHAPE, TINY_VOCAB, pk_paragraph_texts

HEADING = "Zyxwheading"  # a word only the headings hold: it must never reach the model
TINY_RUN = {
    "vocab_size": 300,
    "hidden_size": 32,
    "num_layers": 1,
    "num_heads": 2,
    "max_length": 64,
    "batch_size": 8,
    "max_steps": 5,
    "device": "cpu",
    "progress": False,
}


def label_document(set_id: str, texts: list[str]) -> Document:
    return Document(
        document_id=f"doc-{set_id}",
        set_id=set_id,
        version=1,
        effective_date=None,
        title=set_id,
        doc_type="34391-3",
        source=f"test/{set_id}.xml",
        sha256=f"sha-{set_id}",
        pk_found="43682-4",
        paragraphs=tuple(
            Paragraph(i, "Pharmacokinetics", HEADING, text, "prose", "absorption", HEADING)
            for i, text in enumerate(texts)
        ),
    )


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real pharmacokinetics paragraphs of the shipped sample labels, read with bare lxml."""
    return pk_paragraph_texts()[:120]


@pytest.fixture
def corpus_db(tmp_path, texts) -> Path:
    """120 real paragraph texts, the first 20 stored twice (a generic repeating a label)."""
    db = tmp_path / "corpus.duckdb"
    con = store.connect(db)
    store.write_documents(
        con, [label_document("brand", texts), label_document("generic", texts[:20])]
    )
    con.close()
    return db


def test_tiny_model_dir_loads_through_auto_classes(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=5)
    assert len(tokenizer) == TINY_VOCAB
    assert model.config.hidden_size == TINY_SHAPE["hidden_size"]
    assert model.config.num_hidden_layers == TINY_SHAPE["num_layers"]
    batch = tokenizer(
        ["Atorvastatin is rapidly absorbed after oral administration.", "Renal clearance"],
        padding=True,
        return_tensors="pt",
    )
    ids = batch["input_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id
    assert tokenizer.unk_token_id not in ids  # the vocabulary covers pharmacokinetics prose
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (2, 5)
    assert torch.isfinite(logits).all()


def test_corpus_is_distinct_paragraph_texts_without_headings(corpus_db, texts):
    corpus = corpus_texts(corpus_db)
    assert sorted(corpus) == sorted(set(texts))
    assert corpus == corpus_texts(corpus_db)  # a fixed order
    assert not any(HEADING.lower() in text.lower() for text in corpus)
    assert len(corpus_texts(corpus_db, limit=10)) == 10


def test_pretrain_from_scratch_writes_a_loadable_model(corpus_db, tmp_path, texts):
    output = tmp_path / "adme-bert-tiny"
    summary = pretrain(corpus_db, output, **TINY_RUN)
    assert summary.steps == 5
    assert summary.texts == len(set(texts))
    assert math.isfinite(summary.final_loss) and summary.final_loss > 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in output.iterdir()
    }
    assert not output.with_name(output.name + ".partial").exists()
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert len(tokenizer) <= 300
    assert HEADING.lower() not in tokenizer.get_vocab()
    encoder = AutoModel.from_pretrained(output)
    assert encoder.config.hidden_size == 32 and encoder.config.num_hidden_layers == 1
    classifier = AutoModelForSequenceClassification.from_pretrained(output, num_labels=5)
    batch = tokenizer([texts[0]], truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        assert torch.isfinite(classifier(**batch).logits).all()
    card = (output / "README.md").read_text()
    assert "steps: 5" in card and f"final loss: {summary.final_loss:.4f}" in card


@pytest.mark.slow
def test_same_seed_gives_the_same_model(corpus_db, tmp_path):
    first = pretrain(corpus_db, tmp_path / "a", seed=3, **TINY_RUN)
    second = pretrain(corpus_db, tmp_path / "b", seed=3, **TINY_RUN)
    assert first.epoch_losses == second.epoch_losses
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_continue_pretraining_of_an_existing_encoder(corpus_db, tmp_path, tiny_model_dir):
    output = tmp_path / "continued"
    summary = pretrain(
        corpus_db,
        output,
        **{**TINY_RUN, "max_steps": 3, "vocab_size": 99},
        model=str(tiny_model_dir),
    )
    assert summary.base_model == str(tiny_model_dir)
    assert summary.steps == 3 and math.isfinite(summary.final_loss)
    assert len(AutoTokenizer.from_pretrained(output)) == TINY_VOCAB  # its own tokenizer is kept
    config = json.loads((output / "config.json").read_text())
    assert config["hidden_size"] == TINY_SHAPE["hidden_size"]
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(output / "model.safetensors")
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[name], after[name])  # training moved the weights
    assert "continued from" in (output / "README.md").read_text()


def test_missing_model_folder_is_one_line_and_keeps_the_old_model(corpus_db, tmp_path):
    output = tmp_path / "model"
    pretrain(corpus_db, output, **{**TINY_RUN, "max_steps": 1})
    before = {p.name: p.read_bytes() for p in output.iterdir()}
    missing = tmp_path / "no-such-model"
    result = CliRunner().invoke(
        app,
        ["pretrain", "--db", str(corpus_db), "--output", str(output), "--model", str(missing)],
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: model folder does not exist\n"
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before


def test_empty_database_and_foreign_output_folder_are_errors(corpus_db, tmp_path):
    with pytest.raises(AdmeError, match="no paragraphs to pre-train on"):
        pretrain(store.connect(tmp_path / "empty.duckdb").close() or tmp_path / "empty.duckdb")
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(AdmeError, match="exists and is not a model folder"):
        pretrain(corpus_db, foreign, **TINY_RUN)
    assert [p.name for p in foreign.iterdir()] == ["todo.txt"]


def test_cli_prints_the_summary(corpus_db, tmp_path):
    output = tmp_path / "cli-model"
    result = CliRunner().invoke(
        app,
        [
            "pretrain", "--db", str(corpus_db), "--output", str(output), "--vocab-size", "200",
            "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--max-steps", "2",
            "--batch-size", "4", "--max-length", "32", "--device", "cpu", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "steps: 2 over 1 epoch on cpu" in result.stdout
    assert (output / "model.safetensors").is_file()


def test_output_that_is_a_file_is_one_line_before_any_work(tmp_path):
    # checked before the database is read: a database that does not exist is not reached
    output = tmp_path / "model.bin"
    output.write_bytes(b"mine")
    with pytest.raises(AdmeError, match="is a file, not a model folder") as raised:
        pretrain(tmp_path / "no-such.duckdb", output, **TINY_RUN)
    assert "\n" not in str(raised.value)
    assert output.read_bytes() == b"mine"


def test_swap_in_replaces_the_model_and_clears_leftovers(tmp_path):
    from adme.pretrain import swap_in

    output, staging = tmp_path / "model", tmp_path / "model.partial"
    output.mkdir()
    (output / "config.json").write_text("old")
    (tmp_path / "model.old").mkdir()  # left by a run killed between the two renames
    staging.mkdir()
    (staging / "config.json").write_text("new")
    swap_in(staging, output)
    assert (output / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_exclude_split_leaves_out_every_copy_of_the_test_texts(sample_db):
    from adme.split import make_split

    make_split(sample_db, "natural", seed=7)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        test_texts = {
            text
            for (text,) in con.execute(
                "SELECT p.text FROM split_rows s JOIN paragraphs p USING (paragraph_id) "
                "WHERE s.split_name = 'natural' AND s.part = 'test'"
            ).fetchall()
        }
    everything = corpus_texts(sample_db)
    kept = corpus_texts(sample_db, exclude_split="natural")
    assert test_texts and test_texts <= set(everything)
    assert not test_texts & set(kept)
    assert len(kept) <= len(everything) - len(test_texts)  # copies differing in case go too
    with pytest.raises(AdmeError, match="no such split"):
        corpus_texts(sample_db, exclude_split="nope")
