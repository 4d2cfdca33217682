"""adme plot: each figure from a real DuckDB file, written as a real PNG, and its errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from adme import plots, store
from adme.cli import app
from adme.errors import AdmeError
from adme.model_id import model_id
from tests import reporting_db

TABLES = ("documents", "paragraphs", "predictions", "runs", "metrics", "confusion", "split_rows")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Documents, predictions of two models, five runs and a split."""
    return reporting_db.build(tmp_path_factory.mktemp("plots") / "adme.duckdb")


@pytest.fixture(scope="module")
def bare_db(tmp_path_factory):
    """Documents and paragraphs only: no runs, no predictions, no splits yet."""
    path = tmp_path_factory.mktemp("plots-bare") / "adme.duckdb"
    return reporting_db.build(path, predictions=False, runs=False)


def assert_real_png(path, min_width=500, min_height=350):
    """A PNG of a sensible size with a real drawing on it (not one flat colour)."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 15_000
    pixels = imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0)
    assert len(colours) > 20


def _bar_heights(figure):
    return [round(patch.get_height()) for patch in figure.axes[0].patches]


def test_class_balance_bars_are_the_stored_counts(db, tmp_path):
    expected = Counter(
        p.rule_label or "unlabelled" for d in reporting_db.documents() for p in d.paragraphs
    )
    figure = plots.class_balance_figure(db)
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert dict(zip(labels, _bar_heights(figure), strict=True)) == dict(expected)
    assert figure.axes[0].get_title().startswith("Paragraphs per rule label")
    assert figure.axes[0].get_ylabel() == "paragraphs"
    out = plots.plot(db, "class-balance", tmp_path / "balance.png")
    assert_real_png(out)


def test_class_balance_of_a_split_shows_parts_side_by_side(db, tmp_path):
    con = store.connect(db, read_only=True)
    parts = Counter(con.execute("SELECT part, label FROM split_rows").fetchall())
    con.close()
    figure = plots.class_balance_figure(db, split="natural")
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [
        f"train ({sum(n for (p, _), n in parts.items() if p == 'train')})",
        f"test ({sum(n for (p, _), n in parts.items() if p == 'test')})",
    ]
    assert sum(_bar_heights(figure)) == sum(parts.values())
    assert_real_png(plots.plot(db, "class-balance", tmp_path / "split.png", split="natural"))


def test_per_class_f1_groups_runs_by_method_with_standard_errors(db, tmp_path):
    figure = plots.per_class_f1_figure(db, runs="natural")  # a split name selects its runs
    ax = figure.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["two-stage (2 seeds)", "vanilla (2 seeds)"]
    two_stage = [r[4] for r in reporting_db.RUNS if r[2] == "two-stage"]
    means = np.mean(two_stage, axis=0)  # per class, in CLASSES order
    heights = [patch.get_height() for patch in ax.patches][: len(reporting_db.CLASSES)]
    assert heights == pytest.approx(list(means))
    error_bars = [c for c in ax.containers if getattr(c, "has_yerr", False)]
    assert len(error_bars) == 2
    assert_real_png(plots.plot(db, "per-class-f1", tmp_path / "f1.png"))
    one = plots.per_class_f1_figure(db, runs=["run-v7"])
    assert [t.get_text() for t in one.axes[0].get_legend().get_texts()] == ["vanilla (1 seed)"]


def test_confusion_annotates_every_cell_and_defaults_to_newest_run(db, tmp_path):
    figure = plots.confusion_figure(db, run="run-t42")
    ax = figure.axes[0]
    cells = [int(t.get_text()) for t in ax.texts]
    con = store.connect(db, read_only=True)
    stored = con.execute(
        "SELECT n FROM confusion WHERE run_id = 'run-t42' AND part = 'test' "
        "ORDER BY array_position(?, true_label), array_position(?, pred_label)",
        [list(reporting_db.CLASSES)] * 2,
    ).fetchall()
    con.close()
    assert cells == [n for (n,) in stored]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert "run-t42" in ax.get_title()
    newest = plots.choices(db, "run")[0]
    assert newest in plots.confusion_figure(db).axes[0].get_title()
    assert_real_png(plots.plot(db, "confusion", tmp_path / "cm.png", run="run-t42"))


def test_confidence_histogram_counts_every_prediction_of_the_model(db, tmp_path):
    figure = plots.confidence_figure(db, model=reporting_db.MODEL_A)
    con = store.connect(db, read_only=True)
    expected = Counter(
        label
        for (label,) in con.execute(
            "SELECT label FROM predictions WHERE model_id = ?", [reporting_db.MODEL_A]
        ).fetchall()
    )
    con.close()
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert sorted(legend) == sorted(f"{c} ({n})" for c, n in expected.items())
    assert f"({sum(expected.values())} paragraphs)" in figure.axes[0].get_title()
    assert_real_png(plots.plot(db, "confidence", tmp_path / "conf.png", model=reporting_db.MODEL_A))


def test_confidence_accepts_a_model_folder(tmp_path, tiny_model_dir):
    db = reporting_db.build(tmp_path / "adme.duckdb", predictions=False, runs=False)
    identity = model_id(tiny_model_dir)
    con = store.connect(db)
    pids = [pid for (pid,) in con.execute("SELECT paragraph_id FROM paragraphs").fetchall()]
    reporting_db.write_predictions(con, [(pid, identity, "other", 0.75) for pid in pids])
    con.close()
    figure = plots.confidence_figure(db, model=tiny_model_dir)
    assert identity in figure.axes[0].get_title()
    assert plots.confidence_figure(db).axes[0].get_title() == figure.axes[0].get_title()


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("pie", {}, "unknown plot 'pie'; available: class-balance, per-class-f1"),
        ("per-class-f1", {}, "no training runs with test metrics yet"),
        ("confusion", {}, "no training runs yet"),
        ("confidence", {}, "no predictions stored yet"),
        ("class-balance", {"split": "nope"}, "split 'nope' not found; stored splits: none"),
    ],
)
def test_empty_or_unknown_is_a_one_line_error(bare_db, tmp_path, name, options, message):
    out = tmp_path / "x.png"
    with pytest.raises(AdmeError, match=message) as caught:
        plots.plot(bare_db, name, out, **options)
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_unknown_choices_are_named(db, tmp_path):
    with pytest.raises(
        AdmeError, match="no test confusion matrix for run 'zzz'; stored runs: run-"
    ):
        plots.plot(db, "confusion", tmp_path / "x.png", run="zzz")
    with pytest.raises(AdmeError, match="no test metrics for runs 'zzz'; stored runs: .*natural"):
        plots.plot(db, "per-class-f1", tmp_path / "x.png", runs="zzz")
    with pytest.raises(AdmeError, match="several models have predictions, pick one with --model"):
        plots.plot(db, "confidence", tmp_path / "x.png")
    with pytest.raises(AdmeError, match="no predictions by model 'nobody@1'"):
        plots.plot(db, "confidence", tmp_path / "x.png", model="nobody@1")
    with pytest.raises(AdmeError, match=r"must end in \.png"):
        plots.plot(db, "class-balance", tmp_path / "x.txt")


def test_cli_plot_writes_file_and_errors_change_nothing(db, tmp_path):
    runner = CliRunner()
    out = tmp_path / "figs" / "f1.png"
    result = runner.invoke(
        app, ["plot", "per-class-f1", "--db", str(db), "-o", str(out), "--runs", "run-v7,run-t7"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}"
    assert_real_png(out)
    before = {t: reporting_db.table_rows(db, t) for t in TABLES}
    result = runner.invoke(app, ["plot", "confusion", "--db", str(db), "-o", "x.png", "--run", "q"])
    assert result.exit_code == 1
    assert result.output.startswith("error: no test confusion matrix for run 'q'")
    assert len(result.output.strip().splitlines()) == 1
    assert {t: reporting_db.table_rows(db, t) for t in TABLES} == before
