"""adme train: text-only inputs, stage freezing, a CPU smoke run, outputs, rows and errors.

Everything is real: the shipped sample labels ingested by adme fetch into a DuckDB file, a
split made by adme.split, a tiny BERT saved with save_pretrained, loaded by from_pretrained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, ViTConfig, ViTModel
from typer.testing import CliRunner

from adme import ddp
from adme import train as train_module
from adme.batches import encode_texts, length_sorted_batches, pad_batch
from adme.cli import app
from adme.errors import AdmeError
from adme.inference import BertClassifier
from adme.losses import class_counts, effective_number_weights
from adme.runs import score
from adme.split import load_split, make_split
from adme.train import (
    TrainConfig,
    build_stages,
    check_config,
    fit,
    load_encoder,
    make_loader,
    set_trainable,
    stage1_trainable,
    train,
)
from tests.train_helpers import table_rows

CPU = torch.device("cpu")
STORED = {
    "runs": "SELECT * FROM runs ORDER BY run_id",
    "metrics": "SELECT * FROM metrics ORDER BY ALL",
    "confusion": "SELECT * FROM confusion ORDER BY ALL",
}


@pytest.fixture
def split_db(sample_db) -> Path:
    """The shipped sample labels ingested into a fresh DuckDB file, split as 'natural'."""
    make_split(sample_db, "natural", seed=0)
    return sample_db


@pytest.fixture
def db_with_a_run(split_db, tmp_path) -> Path:
    """The split DB after one finished (fast, TF-IDF) run, so errors can be shown to keep it."""
    train(
        split_db,
        split="natural",
        model=None,
        method="tfidf",
        output=tmp_path / "tfidf",
        progress=False,
    )
    return split_db


def stored(db: Path) -> dict[str, list[tuple]]:
    return {table: table_rows(db, sql) for table, sql in STORED.items()}


# ----------------------------------------------------------------------------- inputs


def test_the_model_reads_the_paragraph_text_never_its_heading(split_db, tiny_model_dir):
    data = load_split(split_db, "natural")
    handed = {
        pid: text
        for part in data.parts.values()
        for pid, text in zip(part.paragraph_ids, part.texts, strict=True)
    }
    headed = table_rows(
        split_db,
        "SELECT r.paragraph_id, p.heading, p.text FROM split_rows r JOIN paragraphs p "
        "USING (paragraph_id) WHERE r.split_name = 'natural' AND p.heading IS NOT NULL",
    )
    assert len(headed) > 20, "the sample must hold rows labelled by a title or inline heading"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for paragraph_id, heading, text in headed:
        assert handed[paragraph_id] == text
        ids = encode_texts(tokenizer, [handed[paragraph_id]], 128)[0]
        assert ids == tokenizer(text, truncation=True, max_length=128)["input_ids"]
        assert ids != encode_texts(tokenizer, [f"{heading} {text}"], 128)[0]


# ----------------------------------------------------------------------------- stages


def one_step(model, tokenizer, texts, labels, stage) -> dict[str, torch.Tensor]:
    """Run one optimiser step of `stage` on one batch; return the parameters before it."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sequences = encode_texts(tokenizer, texts, 64)
    loader = make_loader(
        sequences,
        labels,
        batch_size=len(texts),
        seed=0,
        pad_id=tokenizer.pad_token_id,
        device=CPU,
        workers=ddp.Workers(),
    )
    fit(model, loader, stage, device=CPU, workers=ddp.Workers())
    return before


def global_batches(rows: int, processes: int, batch_size: int) -> list[list[int]]:
    """The rows (by index) of each global batch: the processes' loaders' batches joined."""
    loaders = [
        make_loader(
            [[1]] * rows,
            list(range(rows)),  # the label is the row index
            batch_size=batch_size,
            seed=0,
            pad_id=0,
            device=CPU,
            workers=ddp.Workers(rank=rank, world_size=processes),
        )
        for rank in range(processes)
    ]
    return [
        sorted(row for batch in parts for row in batch["labels"].tolist())
        for parts in zip(*loaders, strict=True)
    ]


def test_processes_share_out_the_global_batches_of_one_process():
    assert global_batches(20, 2, 8) == global_batches(20, 1, 8)
    # 21 rows do not divide by 2: the sampler repeats one row so each process gets 11; the last
    # global batch (one process: 5 rows) then holds that row a second time, nothing else differs
    one, two = global_batches(21, 1, 8), global_batches(21, 2, 8)
    assert two[:-1] == one[:-1] and len(two[-1]) == len(one[-1]) + 1
    (repeated,) = set(two[-1]) - set(one[-1])
    assert repeated in one[0]


def changed(model, before) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}


@pytest.fixture
def stages_and_batch(split_db, tiny_model_dir):
    data = load_split(split_db, "natural")
    model, tokenizer = load_encoder(str(tiny_model_dir), data.classes)
    train_part = data.parts["train"]
    counts = class_counts(train_part.labels, len(data.classes))
    config = TrainConfig(stage1_epochs=1, epochs=1, stage1_lr=1e-3, lr=1e-3)
    stage1, stage2 = build_stages("two-stage", config, counts)
    picks = [train_part.labels.index(c) for c in range(len(data.classes))] + [0, 1, 2]
    texts = [train_part.texts[i] for i in picks]
    labels = [train_part.labels[i] for i in picks]
    return model, tokenizer, stage1, stage2, texts, labels


def test_stage1_trains_only_the_last_encoder_layer_the_pooler_and_the_head(stages_and_batch):
    model, tokenizer, stage1, _, texts, labels = stages_and_batch
    trainable = stage1_trainable(model)
    assert any(n.startswith("bert.encoder.layer.1.") for n in trainable)
    assert any(n.startswith("bert.pooler.") for n in trainable)
    assert {"classifier.weight", "classifier.bias"} <= trainable
    assert not any(n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for n in trainable)
    set_trainable(model, trainable)
    before = one_step(model, tokenizer, texts, labels, stage1)
    assert changed(model, before) == trainable


def test_stage2_trains_every_parameter(stages_and_batch):
    model, tokenizer, _, stage2, texts, labels = stages_and_batch
    set_trainable(model, None)
    before = one_step(model, tokenizer, texts, labels, stage2)
    assert changed(model, before) == set(before)


def test_drw_switches_class_weights_on_at_the_given_epoch():
    counts = [40, 10, 2]
    (stage,) = build_stages("drw", TrainConfig(method="drw", epochs=3, drw_epoch=2), counts)
    assert stage.loss_for_epoch(0, 3).weight is None
    assert torch.allclose(stage.loss_for_epoch(1, 3).weight, effective_number_weights(counts))
    (two_stage_1, _) = build_stages("two-stage", TrainConfig(), counts)
    assert torch.allclose(two_stage_1.loss_for_epoch(0, 3).weight, effective_number_weights(counts))


def weighted_epochs(stage, epochs: int) -> list[bool]:
    return [stage.loss_for_epoch(e, epochs).weight is not None for e in range(epochs)]


def test_drw_reweights_the_last_epoch_of_every_grid_candidate():
    # the switch follows the length of the stage being trained, not the configured --epochs:
    # a grid candidate of 1 or 2 epochs must still re-weight, one of 6 only at the end
    (stage,) = build_stages("drw", TrainConfig(method="drw", epochs=3, grid=True), [40, 10, 2])
    assert weighted_epochs(stage, 1) == [True]
    assert weighted_epochs(stage, 2) == [False, True]
    assert weighted_epochs(stage, 6) == [False] * 5 + [True]
    config = TrainConfig(method="drw", epochs=3, drw_epoch=4, grid=True)
    (stage,) = build_stages("drw", config, [40, 10, 2])
    assert weighted_epochs(stage, 2) == [False, True]  # never a DRW run that never re-weights
    assert weighted_epochs(stage, 6) == [False] * 3 + [True] * 3


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("s", 0.0, r"--s 0.0: must be above 0"),
        ("max_m", -0.1, r"--max-m -0.1: must be 0 or more"),
        ("beta", 1.0, r"--beta 1.0: must be in \[0, 1\)"),
        ("lr", float("nan"), "--lr nan: must be a finite number above 0"),
        ("stage1_lr", float("inf"), "--stage1-lr inf: must be a finite number above 0"),
    ],
)
def test_ldam_options_that_cannot_train_are_refused_before_loading(option, value, message):
    with pytest.raises(AdmeError, match=message):
        check_config(TrainConfig(method="two-stage", **{option: value}), "model")


@pytest.mark.parametrize(
    ("method", "drw_epoch", "message"),
    [("drw", 0, "between 1 and --epochs 3"), ("drw", 4, "between 1 and"), ("ldam", 2, "drw only")],
)
def test_a_drw_epoch_that_cannot_apply_is_refused(method, drw_epoch, message):
    with pytest.raises(AdmeError, match=message):
        check_config(TrainConfig(method=method, epochs=3, drw_epoch=drw_epoch), "model")


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_two_stage_on_the_sample_beats_the_majority_class_and_saves_a_loadable_model(
    split_db, tiny_model_dir, tmp_path
):
    output = tmp_path / "two-stage"
    summary = train(
        split_db,
        split="natural",
        model=str(tiny_model_dir),
        method="two-stage",
        output=output,
        stage1_epochs=5,
        stage1_lr=3e-3,
        epochs=15,
        lr=2e-3,
        batch_size=8,
        max_length=64,
        seeds=(1,),
        progress=False,
    )
    data = load_split(split_db, "natural")
    majority = max(range(len(data.classes)), key=data.parts["train"].labels.count)
    test_labels = data.parts["test"].labels
    baseline = score(test_labels, [majority] * len(test_labels), data.classes)
    (run,) = summary.runs
    assert run.scores["test"].f1("macro") > baseline.f1("macro") + 0.1

    model = AutoModelForSequenceClassification.from_pretrained(output)
    AutoTokenizer.from_pretrained(output)
    assert (output / "model.safetensors").is_file()
    assert [model.config.id2label[i] for i in range(len(data.classes))] == list(data.classes)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["test"]["classes"]["macro"]["f1"] == pytest.approx(
        run.scores["test"].f1("macro")
    )
    card = (output / "README.md").read_text()
    assert "two-stage" in card and "| absorption |" in card and "natural" in card

    (row,) = table_rows(split_db, "SELECT run_id, method, seed, output, params FROM runs")
    assert row[:4] == (run.run_id, "two-stage", 1, str(output))
    assert json.loads(row[4])["stage1_lr"] == 3e-3
    parts = table_rows(split_db, "SELECT part, count(*) FROM metrics GROUP BY part ORDER BY part")
    assert parts == [("test", len(data.classes) + 2), ("validation", len(data.classes) + 2)]
    cells = table_rows(split_db, "SELECT part, sum(n) FROM confusion GROUP BY part ORDER BY part")
    assert cells == [
        ("test", len(test_labels)),
        ("validation", len(data.parts["validation"].labels)),
    ]


def test_tfidf_baseline_over_two_seeds_gives_mean_and_standard_error(split_db, tmp_path):
    summary = train(
        split_db,
        split="natural",
        model=None,
        method="tfidf",
        output=tmp_path / "tfidf",
        seeds=(7, 42),
        progress=False,
    )
    assert [r.output for r in summary.runs] == [
        tmp_path / "tfidf" / "seed-7",
        tmp_path / "tfidf" / "seed-42",
    ]
    folder = tmp_path / "tfidf" / "seed-7"
    assert json.loads((folder / "adme.json").read_text())["kind"] == "tfidf"
    assert (folder / "tfidf.safetensors").is_file() and not list(folder.glob("*.joblib"))
    mean, se = summary.test_f1()["micro"]
    assert mean == pytest.approx(sum(r.scores["test"].f1("micro") for r in summary.runs) / 2)
    assert se is not None and "±" in summary.render()
    assert table_rows(split_db, "SELECT seed FROM runs ORDER BY seed") == [(7,), (42,)]


def test_grid_tunes_on_validation_and_scores_the_test_part_once(
    split_db, tiny_model_dir, tmp_path, monkeypatch
):
    data = load_split(split_db, "natural")
    scored: list[tuple[str, float]] = []
    real_evaluate = train_module.evaluate

    def recording_evaluate(model, sequences, labels, *args, **kwargs):
        scores = real_evaluate(model, sequences, labels, *args, **kwargs)
        if type(model).__name__ == "TfidfClassifier":  # the below-TF-IDF warning's baseline
            return scores
        part = next(p for p in ("train", "validation", "test") if labels == data.parts[p].labels)
        scored.append((part, scores.f1("macro")))
        return scores

    monkeypatch.setattr(train_module, "evaluate", recording_evaluate)
    summary = train(
        split_db,
        split="natural",
        model=str(tiny_model_dir),
        method="vanilla",
        output=tmp_path / "grid",
        grid=True,
        grid_epochs=(1, 2),
        grid_lrs=(1e-3,),
        batch_size=16,
        max_length=32,
        progress=False,
    )
    (run,) = summary.runs
    assert [part for part, _ in scored] == ["validation", "validation", "test"]
    validation = [f1 for part, f1 in scored if part == "validation"]
    best = max(range(2), key=lambda i: (validation[i], -i))  # the first of equals is kept
    assert (run.params["chosen_epochs"], run.params["chosen_lr"]) == ((1, 2)[best], 1e-3)
    assert run.scores["validation"].f1("macro") == validation[best]
    assert run.scores["test"].f1("macro") == scored[-1][1]


def test_grid_needs_a_validation_part(split_db, tiny_model_dir):
    make_split(split_db, "no-validation", validation_size=0, seed=0)
    with pytest.raises(AdmeError, match="--grid needs a validation part"):
        train(split_db, split="no-validation", model=str(tiny_model_dir), grid=True)


# ----------------------------------------------------------------------------- bad input


def test_unknown_split_is_a_one_line_error_and_keeps_stored_runs(db_with_a_run, tiny_model_dir):
    kept = stored(db_with_a_run)
    with pytest.raises(AdmeError, match="unknown split 'nope'"):
        train(db_with_a_run, split="nope", model=str(tiny_model_dir), progress=False)
    assert stored(db_with_a_run) == kept


def test_a_class_missing_from_train_is_refused(db_with_a_run, tiny_model_dir):
    table_rows_before = stored(db_with_a_run)
    from adme import store

    con = store.connect(db_with_a_run)
    con.execute("DELETE FROM split_rows WHERE part = 'train' AND label = 'excretion'")
    con.close()
    with pytest.raises(AdmeError, match=r"no training rows for class\(es\) \['excretion'\]"):
        train(db_with_a_run, split="natural", model=str(tiny_model_dir), progress=False)
    assert stored(db_with_a_run) == table_rows_before


def test_a_missing_model_folder_is_refused(db_with_a_run, tmp_path):
    kept = stored(db_with_a_run)
    with pytest.raises(AdmeError, match="model folder does not exist"):
        train(db_with_a_run, split="natural", model=str(tmp_path / "no" / "such" / "model"))
    assert stored(db_with_a_run) == kept


def test_a_folder_that_is_not_a_model_is_refused(db_with_a_run, tmp_path):
    kept = stored(db_with_a_run)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AdmeError, match="not a usable encoder/classifier"):
        train(db_with_a_run, split="natural", model=str(empty), progress=False)
    assert stored(db_with_a_run) == kept


def test_an_image_model_is_not_a_text_classifier(db_with_a_run, tmp_path, tiny_model_dir):
    kept = stored(db_with_a_run)
    vit = tmp_path / "vit"
    config = ViTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        image_size=8,
        patch_size=4,
    )
    ViTModel(config).save_pretrained(vit)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(vit)  # a tokenizer, even
    with pytest.raises(AdmeError, match="not a usable encoder/classifier"):
        train(db_with_a_run, split="natural", model=str(vit), progress=False)
    assert stored(db_with_a_run) == kept


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_refused(db_with_a_run, tiny_model_dir):
    kept = stored(db_with_a_run)
    with pytest.raises(AdmeError, match="no CUDA GPU"):
        train(db_with_a_run, split="natural", model=str(tiny_model_dir), device="cuda")
    assert stored(db_with_a_run) == kept


# ----------------------------------------------------------------------------- CLI


def test_cli_help_explains_every_option():
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--split",
        "--model",
        "--method",
        "--two-stage",
        "--seeds",
        "--stage1-lr",
        "--max-m",
        "--beta",
        "--drw-epoch",
        "--grid",
        "--device",
        "--db",
    ):
        assert option in result.output


def test_cli_trains_and_reports_and_errors_in_one_line(split_db, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        app,
        [
            "train",
            "--db",
            str(split_db),
            "--split",
            "natural",
            "--method",
            "tfidf",
            "--seeds",
            "1,2",
            "-o",
            str(tmp_path / "m"),
            "--no-progress",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "macro" in ok.output and "±" in ok.output
    bad = runner.invoke(app, ["train", "--db", str(split_db), "--split", "nope", "--model", "x"])
    assert bad.exit_code == 1
    assert bad.output.strip().count("\n") == 0 and bad.output.startswith("error:")


# ----------------------------------------------------------------------------- batching


def test_length_sorted_batches_cover_every_index_once_longest_first():
    lengths = [3, 9, 1, 9, 4, 7, 2]
    batches = length_sorted_batches(lengths, 3)
    assert batches == [[1, 3, 5], [4, 0, 6], [2]]
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))


def test_pad_batch_pads_to_the_longest_sequence_and_masks_the_padding():
    batch = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_batched_probabilities_come_back_in_input_order(tiny_model_dir):
    model, tokenizer = load_encoder(str(tiny_model_dir), ("a", "b", "c"))
    texts = [
        "Metabolism is mainly by CYP3A4.",
        "Absorption",
        "Excreted in urine and feces as unchanged drug and metabolites over 72 hours.",
        "Protein binding is 95%.",
    ]

    def classifier(batch_size: int) -> BertClassifier:
        return BertClassifier(model, tokenizer, CPU, ("a", "b", "c"), "x", 64, batch_size)

    batched = classifier(3).predict_proba(texts)
    one_by_one = np.concatenate([classifier(1).predict_proba([t]) for t in texts])
    assert np.allclose(batched, one_by_one, atol=1e-5)
    assert np.allclose(batched.sum(axis=1), np.ones(len(texts)))


def test_stage1_layers_widens_or_narrows_what_stage1_trains(stages_and_batch):
    model = stages_and_batch[0]
    head_only = stage1_trainable(model, 0)
    both = stage1_trainable(model, 2)
    assert not any(".encoder.layer." in n for n in head_only)
    assert {"classifier.weight", "classifier.bias"} <= head_only < stage1_trainable(model) < both
    assert any(n.startswith("bert.encoder.layer.0.") for n in both)
    assert not any(n.startswith("bert.embeddings.") for n in both)
    with pytest.raises(AdmeError, match="--stage1-layers -1: must be 0 or more"):
        check_config(TrainConfig(method="two-stage", stage1_layers=-1), "model")


def test_train_warns_in_one_line_when_below_the_tfidf_baseline(split_db, tiny_model_dir, tmp_path):
    # one epoch at a tiny learning rate: the untrained tiny model cannot match TF-IDF
    args = ["train", "--db", str(split_db), "--split", "natural", "--no-progress"]
    weak = CliRunner().invoke(
        app,
        [
            *args,
            "--model",
            str(tiny_model_dir),
            "--method",
            "vanilla",
            "--epochs",
            "1",
            "--lr",
            "1e-6",
            "-o",
            str(tmp_path / "weak"),
            "--device",
            "cpu",
        ],
    )
    assert weak.exit_code == 0, weak.output
    warning = weak.stderr.strip()
    assert warning.startswith("warning: below the TF-IDF baseline on split natural's test part")
    assert warning.count("\n") == 0
    tfidf = CliRunner().invoke(app, [*args, "--method", "tfidf", "-o", str(tmp_path / "t")])
    assert tfidf.exit_code == 0 and "warning" not in tfidf.stderr
