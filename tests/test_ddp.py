"""Two CPU processes under torchrun (gloo) train the same model as one process.

Same data, same seed, the same global batch (8 = 2 processes x 4): DistributedDataParallel
averages the two half-batch gradients, which equals the one-process full-batch gradient, so
the final weights agree up to float rounding. For the class-weighted losses that holds only
because the loss divides by the global batch's sum of weights (ddp.global_weighted_mean), not
each half-batch's: the uneven class mix below makes the two differ.

The train part divides by the global batch, so the DistributedSampler pads nothing: with a
train part that does not divide by the process count it repeats a sample or few to even the
processes out, and N processes then train on up to N - 1 extra samples per epoch.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from safetensors.torch import load_file

from adme import store
from adme.train import train
from tests.tiny_model import build_tiny_model
from tests.train_helpers import table_rows

TRAIN_ROWS, TEST_ROWS = 48, 16  # train rows divisible by the global batch: no padded samples
# rows per class, uneven so the effective-number class weights differ (about 1 : 7)
CLASS_ROWS = {"absorption": 16, "distribution": 10, "excretion": 6, "metabolism": 4, "other": 28}


def exact_split(db: Path, name: str) -> None:
    """Store a split whose train part is exactly TRAIN_ROWS paragraphs, classes as CLASS_ROWS."""
    rows = table_rows(
        db,
        "SELECT paragraph_id, rule_label FROM paragraphs WHERE rule_label IS NOT NULL "
        "ORDER BY paragraph_id",
    )
    by_class: dict[str, list[str]] = {}
    for paragraph_id, label in rows:
        by_class.setdefault(label, []).append(paragraph_id)
    # round-robin over classes so every class is in both parts
    interleaved = itertools.zip_longest(*(by_class[c][:n] for c, n in sorted(CLASS_ROWS.items())))
    label_of = dict(rows)
    chosen = [(pid, label_of[pid]) for group in interleaved for pid in group if pid]
    chosen = chosen[: TRAIN_ROWS + TEST_ROWS]
    parts = ["test" if i % 4 == 3 else "train" for i in range(len(chosen))]
    table = pa.table(
        {
            "split_name": [name] * len(chosen),
            "paragraph_id": [p for p, _ in chosen],
            "part": parts,
            "label": [c for _, c in chosen],
        }
    )
    assert parts.count("train") == TRAIN_ROWS
    con = store.connect(db)
    try:
        con.execute(
            "INSERT INTO splits (split_name, params, classes, folded) VALUES (?, '{}', ?, 0)",
            [name, ["absorption", "distribution", "metabolism", "excretion", "other"]],
        )
        con.register("new_rows", table)
        con.execute("INSERT INTO split_rows BY NAME SELECT * FROM new_rows")
    finally:
        con.close()


def without_dropout(folder: Path) -> Path:
    """Dropout draws differ between one and two processes; switch it off for the comparison."""
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["hidden_dropout_prob"] = 0.0
    config["attention_probs_dropout_prob"] = 0.0
    config_path.write_text(json.dumps(config))
    return folder


def adme_command() -> str:
    found = shutil.which("adme") or str(Path(sys.executable).parent / "adme")
    assert Path(found).exists(), "the adme console script is installed with the package"
    return found


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_model_as_one(sample_db, tmp_path):
    """Two-stage covers both losses: stage 1 is LDAM with effective-number class weights (a
    weighted mean) on the last layer, stage 2 plain cross-entropy on every parameter."""
    db = sample_db
    exact_split(db, "ddp")
    model_dir = without_dropout(build_tiny_model(tmp_path / "tiny"))
    options = [
        "--split",
        "ddp",
        "--model",
        str(model_dir),
        "--method",
        "two-stage",
        "--stage1-epochs",
        "2",
        "--stage1-lr",
        "3e-3",
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--batch-size",
        "8",
        "--max-length",
        "48",
        "--seeds",
        "3",
        "--device",
        "cpu",
        "--no-progress",
    ]

    one = train(
        db,
        split="ddp",
        model=str(model_dir),
        method="two-stage",
        stage1_epochs=2,
        stage1_lr=3e-3,
        epochs=1,
        lr=1e-3,
        batch_size=8,
        max_length=48,
        seeds=(3,),
        device="cpu",
        progress=False,
        output=tmp_path / "one",
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "--no-python",
            adme_command(),
            "train",
            "--db",
            str(db),
            "-o",
            str(tmp_path / "two"),
            *options,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    single = load_file(tmp_path / "one" / "model.safetensors")
    double = load_file(tmp_path / "two" / "model.safetensors")
    assert single.keys() == double.keys()
    initial = load_file(model_dir / "model.safetensors")
    moved = [n for n in single if n in initial and not torch.equal(single[n], initial[n])]
    assert moved, "training changed the encoder's weights"
    # measured: at most 3e-6 apart; dividing by each half-batch's own sum of weights instead
    # left them up to 3e-2 apart
    for name in single:
        assert torch.allclose(single[name], double[name], rtol=0, atol=2e-5), name

    runs = table_rows(db, "SELECT params FROM runs ORDER BY started")
    assert [json.loads(p)["processes"] for (p,) in runs] == [1, 2]  # rank 0 alone wrote its row
    (test_two,) = table_rows(
        db,
        "SELECT f1 FROM metrics m JOIN runs r USING (run_id) "
        "WHERE r.output = ? AND m.part = 'test' AND m.class = 'micro'",
        [str(tmp_path / "two")],
    )
    assert test_two[0] == pytest.approx(one.runs[0].scores["test"].f1("micro"))
