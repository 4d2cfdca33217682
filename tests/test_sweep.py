"""adme sweep and adme plot sweep: real DuckDB, the shipped sample labels, the tiny BERT.

One small sweep (2 ratios x tfidf + vanilla x 2 seeds, 1 epoch) is trained once per module;
the other tests rerun, extend, refuse or plot it. The kill test runs `adme sweep` in a real
subprocess, kills it with SIGKILL mid-sweep and resumes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from matplotlib.collections import PolyCollection
from typer.testing import CliRunner

from adme import plots, store
from adme.cli import app
from adme.errors import AdmeError
from adme.sweep import SweepOptions, eta_seconds, split_name, sweep
from tests.test_plots import assert_real_png

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("sweeps", "splits", "split_rows", "runs", "metrics", "confusion")
CELLS = {"ratios": (1.0, 0.5), "methods": ("tfidf", "vanilla"), "seeds": (1, 2)}


def fast(model: Path) -> dict:
    """Shared options of the test sweeps: the tiny model, one short epoch."""
    return {"model": str(model), "epochs": 1, "lr": 5e-4, "max_length": 32, "batch_size": 16}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of the tables a sweep writes, to show a refused command changed nothing."""
    con = store.connect(db, read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a read-only query."""
    con = store.connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def swept(sample_db_template, tiny_model_dir, tmp_path_factory):
    """A copy of the sample database after sweep 'paper' has trained its 8 cells."""
    folder = tmp_path_factory.mktemp("sweep")
    db = folder / "adme.duckdb"
    shutil.copyfile(sample_db_template, db)
    lines: list[str] = []
    summary = sweep(
        db,
        "paper",
        **CELLS,
        output=folder / "models",
        device="cpu",
        progress=False,
        echo=lines.append,
        **fast(tiny_model_dir),
    )
    return db, summary, lines, folder


def test_a_sweep_trains_every_cell_once_and_tags_its_runs(swept):
    db, summary, lines, folder = swept
    assert (summary.cells, summary.trained, summary.skipped) == (8, 8, 0)
    options = SweepOptions(axis="ratio", **fast(Path("unused")))
    names = {split_name(options, v) for v in CELLS["ratios"]}
    assert len(names) == 2 and all(n.startswith("ratio-") for n in names)
    stored = rows(db, "SELECT split, method, seed FROM runs WHERE sweep = 'paper'")
    assert len(stored) == 8 == len(set(stored))
    assert {s for s, _, _ in stored} == names
    assert {(m, seed) for _, m, seed in stored} == {
        (m, s) for m in CELLS["methods"] for s in CELLS["seeds"]
    }
    # one folder per cell, named from the cell
    assert all((folder / "models" / "paper" / s / f"{m}-s{seed}").is_dir() for s, m, seed in stored)
    # a progress line per cell: done/total, elapsed and ETA
    progress = [line for line in lines if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [f"[{i}/8" for i in range(1, 9)]
    assert all("elapsed" in line and "ETA" in line for line in progress)
    assert progress[-1].endswith("ETA 0s")
    # the table: 2 values x 2 methods, 2 seeds each, tfidf deterministic (SE 0)
    table = summary.table()
    assert len(table) == 5 and table[0][:5] == ["ratio", "method", "seeds", "micro-F1", "macro-F1"]
    assert {row[2] for row in table[1:]} == {"2"}
    assert all("± 0.000" in row[3] for row in table[1:] if row[1] == "tfidf")


def test_the_sweep_report_runs_from_the_cli_with_the_sweep_name(swept):
    db, *_ = swept
    result = CliRunner().invoke(
        app,
        ["report", "sweep_summary", "--db", str(db), "--param", "sweep=paper", "-f", "csv"],
    )
    assert result.exit_code == 0, result.output
    header, *lines = result.output.strip().splitlines()
    assert header == "axis,imbalance,method,class,seeds,f1,f1_se"
    # 2 values x 2 methods x (5 classes + micro + macro)
    assert len(lines) == 2 * 2 * 7
    assert {line.split(",")[4] for line in lines} == {"2"}


def run_again(db: Path, folder: Path, model: Path, echo=None, **changes):
    """The module's sweep command again, with CHANGES to its options."""
    args = {
        **CELLS,
        "output": folder / "models",
        "device": "cpu",
        "progress": False,
        "echo": echo or (lambda _: None),
        **fast(model),
    }
    return sweep(db, "paper", **(args | changes))


def test_rerunning_the_same_sweep_trains_nothing_and_adds_no_rows(swept, tiny_model_dir):
    db, _, _, folder = swept
    before = snapshot(db)
    lines: list[str] = []
    summary = run_again(db, folder, tiny_model_dir, echo=lines.append)
    assert (summary.trained, summary.skipped) == (0, 8)
    assert any("8 already done, 0 to train" in line for line in lines)
    assert any(line.endswith(": reused") for line in lines)
    assert snapshot(db) == before


def test_more_seeds_train_only_the_new_cells(swept, tiny_model_dir, tmp_path):
    db, _, _, folder = swept
    copy = tmp_path / "adme.duckdb"
    shutil.copyfile(db, copy)
    summary = run_again(copy, folder, tiny_model_dir, methods=("tfidf",), seeds=(1, 2, 3))
    assert (summary.cells, summary.trained, summary.skipped) == (6, 2, 4)
    seeds = rows(copy, "SELECT seed, count(*) FROM runs WHERE method = 'tfidf' GROUP BY seed")
    assert sorted(seeds) == [(1, 2), (2, 2), (3, 2)]


def test_a_rerun_with_other_shared_options_is_refused_and_changes_nothing(swept, tiny_model_dir):
    db, _, _, folder = swept
    before = snapshot(db)
    with pytest.raises(AdmeError, match=r"sweep 'paper' was started with --epochs 1 \(now 2\)"):
        run_again(db, folder, tiny_model_dir, epochs=2)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ratios", "0.5", "--mus", "0.5"], "give exactly one of --ratios"),
        (["--ratios", "0"], "--ratios 0: 0 must be above 0"),
        (["--ratios", "2"], "--ratio 2.0: must be in (0, 1]"),
        (["--ratios", "0.5,0.5"], "--ratios 0.5,0.5: 0.5 is given twice"),
        (["--ratios", "0.5", "--methods", "vanilla,bert"], "--methods bert: unknown"),
        (["--ratios", "0.5", "--classes-cut", "absorption"], "--classes-cut applies to a step"),
        (["--fractions", "0.5"], "--method step needs at least one --classes-cut"),
        (["--ratios", "0.5", "--methods", "vanilla"], "--method vanilla needs --model"),
        (["--ratios", "0.5", "--seeds", "1,1"], "--seeds 1,1: 1 is given twice"),
        (["--ratios", "0.5", "--group-by", "atc"], "--group-by atc: unknown"),
        (["--ratios", "0.5", "--model", "/no/such/model"], "/no/such/model: model folder does"),
    ],
)
def test_bad_sweep_options_are_one_line_errors_that_store_nothing(swept, args, message):
    db, *_ = swept
    before = snapshot(db)
    result = CliRunner().invoke(app, ["sweep", "other", "--db", str(db), *args])
    # a wrong command line exits 2; a model folder that is not there is a runtime fault, 1
    assert result.exit_code == (1 if "/no/such/model" in args else 2), result.output
    assert result.output.startswith("error: ") and message in result.output
    assert result.output.count("\n") == 1
    assert snapshot(db) == before


def test_eta_counts_each_remaining_cell_at_its_methods_mean_time():
    options = SweepOptions(axis="ratio")
    cells = [
        type("C", (), {"method": m})()  # only .method is read
        for m in ("tfidf", "two-stage", "ldam")
    ]
    assert eta_seconds({}, cells) is None
    durations = {"tfidf": [2.0, 4.0], "two-stage": [60.0]}
    # tfidf 3, two-stage 60, ldam (not measured yet) at the mean of all: (2 + 4 + 60) / 3
    assert eta_seconds(durations, cells) == pytest.approx(3 + 60 + 22)
    assert split_name(options, 0.1) == split_name(SweepOptions(axis="ratio"), 0.1)
    assert split_name(options, 0.1) != split_name(SweepOptions(axis="ratio", split_seed=7), 0.1)
    by_drug = SweepOptions(axis="ratio", group_by="drug")
    assert by_drug.split_params(0.1)["group_by"] == "drug"
    assert "group_by" not in options.split_params(0.1)  # older sweeps keep their split names
    assert split_name(by_drug, 0.1) != split_name(options, 0.1)


# ----------------------------------------------------------------------------- plot


def test_plot_sweep_draws_micro_macro_and_per_class_panels_with_bands(swept, tmp_path):
    db, *_ = swept
    figure = plots.sweep_figure(db, "paper")
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles[:2] == ["micro-F1", "macro-F1"]
    assert titles[2:] == [f"F1 {c}" for c in plots.CLASS_ORDER[:5]]
    micro = figure.axes[0]
    assert sorted(line.get_label() for line in micro.get_lines()) == ["tfidf", "vanilla"]
    assert all(list(line.get_xdata()) == [0.5, 1.0] for line in micro.get_lines())
    # two seeds everywhere: one SE band per method and panel
    bands = [c for ax in figure.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2 * 7
    out = tmp_path / "sweep.png"
    result = CliRunner().invoke(
        app, ["plot", "sweep", "--sweep", "paper", "--db", str(db), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert_real_png(out)


def test_a_single_seed_gets_no_error_band(swept, tiny_model_dir, tmp_path):
    db, _, _, folder = swept
    copy = tmp_path / "adme.duckdb"
    shutil.copyfile(db, copy)
    sweep(
        copy,
        "one",
        ratios=(1.0, 0.5),
        methods=("tfidf",),
        seeds=(5,),
        progress=False,
        output=tmp_path / "m",
        echo=lambda _: None,
        **fast(tiny_model_dir),
    )
    figure = plots.sweep_figure(copy, "one")
    assert not [c for ax in figure.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert "no error band" in figure.get_suptitle()


def test_plot_sweep_names_the_stored_sweeps_when_unknown(swept, tmp_path):
    db, *_ = swept
    with pytest.raises(AdmeError, match="no finished runs of sweep 'nope'; stored sweeps: paper"):
        plots.plot(db, "sweep", tmp_path / "x.png", sweep="nope")
    with pytest.raises(AdmeError, match="give --sweep NAME; stored sweeps: paper"):
        plots.plot(db, "sweep", tmp_path / "x.png")


# ----------------------------------------------------------------------------- kill and resume


@pytest.mark.slow
def test_a_sweep_killed_mid_run_resumes_without_redoing_or_duplicating(
    sample_db_template, tiny_model_dir, tmp_path
):
    db = tmp_path / "adme.duckdb"
    shutil.copyfile(sample_db_template, db)
    command = [
        sys.executable, "-m", "adme.cli", "sweep", "killed", "--db", str(db),
        "--ratios", "1,0.5", "--methods", "vanilla", "--seeds", "1,2",
        "--model", str(tiny_model_dir), "--epochs", "1", "--lr", "5e-4", "--max-length", "32",
        "--device", "cpu", "--no-progress", "--output", str(tmp_path / "models"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 240
    seen = []
    try:
        for line in process.stdout:  # ends when the process does
            seen.append(line.decode())
            if line.startswith(b"[1/4]") or time.monotonic() > deadline:
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert any(line.startswith("[1/4]") for line in seen), "".join(seen)
    first = rows(db, "SELECT run_id, split, method, seed FROM runs WHERE sweep = 'killed'")
    assert 1 <= len(first) < 4
    result = CliRunner().invoke(app, [*command[3:]])
    assert result.exit_code == 0, result.output
    assert f"{len(first)} already done, {4 - len(first)} to train" in result.output
    after = rows(db, "SELECT run_id, split, method, seed FROM runs WHERE sweep = 'killed'")
    assert len(after) == 4 == len({row[1:] for row in after})
    assert set(first) <= set(after)  # finished cells were kept, not redone
    per_run = rows(db, "SELECT run_id, count(*) FROM metrics GROUP BY run_id")
    assert len({n for _, n in per_run}) == 1  # no run has duplicated or missing metric rows
    assert {r for r, _ in per_run} == {row[0] for row in after}
