"""adme evaluate: any model folder scored on hand labels or a split's test part, stored as a run.

Real parts: the shipped sample in DuckDB, real TF-IDF runs, a gold JSONL written from real
paragraphs (the shared hand labels are not in the repository).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adme import reports
from adme.cli import app
from adme.errors import AdmeError
from adme.evaluate import evaluate, parse_target
from adme.inference import InferenceOptions, load_model
from adme.runs import score
from adme.split import make_split
from adme.train import train
from tests.train_helpers import table_rows

CPU = InferenceOptions(device="cpu")


@pytest.fixture(scope="module")
def trained(sample_db_template, tmp_path_factory) -> dict[str, Path]:
    """Splits 'natural' (five classes) and 'binary', one TF-IDF run on each."""
    folder = tmp_path_factory.mktemp("evaluate")
    db = folder / "adme.duckdb"
    shutil.copyfile(sample_db_template, db)
    make_split(db, "natural", seed=0)
    make_split(db, "binary", classes="binary", seed=0)
    train(db, split="natural", model=None, method="tfidf", output=folder / "five", seeds=(1,))
    train(db, split="binary", model=None, method="tfidf", output=folder / "two", seeds=(1,))
    return {"db": db, "five": folder / "five", "two": folder / "two"}


@pytest.fixture
def db(trained, tmp_path) -> Path:
    copy = tmp_path / "adme.duckdb"
    shutil.copyfile(trained["db"], copy)
    return copy


def write_gold(db: Path, path: Path, labels: dict[str, str] | None = None) -> list[dict]:
    """A gold file of 30 stored paragraphs (rule label as the hand label) plus one null label."""
    rows = table_rows(
        db,
        "SELECT text, rule_label, text_hash FROM paragraphs WHERE rule_label IS NOT NULL "
        "ORDER BY paragraph_id LIMIT 30",
    )
    gold = [{"text": t, "label": (labels or {}).get(r, r), "text_hash": h} for t, r, h in rows]
    gold.append({"text": "Annotators disagreed on this one.", "label": None, "text_hash": "0"})
    path.write_text("\n".join(json.dumps(g) for g in gold) + "\n")
    return gold[:-1]


def run_rows(db: Path) -> list[tuple]:
    return table_rows(db, "SELECT run_id, split, evaluated_on FROM runs ORDER BY started")


def test_gold_scores_are_the_models_predictions_against_the_hand_labels(trained, db, tmp_path):
    gold = write_gold(db, tmp_path / "gold.jsonl")
    summary = evaluate(db, trained["five"], f"gold:{tmp_path / 'gold.jsonl'}", device="cpu")
    model = load_model(trained["five"], CPU)
    predicted = model.predict_proba([g["text"] for g in gold]).argmax(axis=1).tolist()
    truth = [model.classes.index(g["label"]) for g in gold]
    assert summary.scores == score(truth, predicted, model.classes)
    assert any("skipped 1 paragraph" in note for note in summary.notes)
    # stored as a run the reports and plots read
    run_id, split, evaluated_on = run_rows(db)[-1]
    assert (run_id, split, evaluated_on) == (summary.run_id, "gold:gold.jsonl", "gold:gold.jsonl")
    metrics = dict(
        table_rows(db, "SELECT class, f1 FROM metrics WHERE run_id = ? AND part = 'test'", [run_id])
    )
    assert metrics["macro"] == summary.scores.f1("macro")
    cells = table_rows(db, "SELECT sum(n) FROM confusion WHERE run_id = ?", [run_id])
    assert cells == [(len(gold),)]
    _, summary_rows = reports.run_query(db, "runs_summary")
    assert ("gold:gold.jsonl", "tfidf") in {(r[0], r[1]) for r in summary_rows}
    # the paragraphs the gold texts are got this model's predictions (model_compare reads them)
    stored = table_rows(
        db, "SELECT count(*) FROM predictions WHERE model_id = ?", [model.model_id]
    )[0][0]
    assert stored == summary.stored_predictions >= len(gold)
    text = "\n".join(summary.lines())
    assert "micro-F1" in text and "confusion" in text and summary.run_id in text


def test_on_a_split_reproduces_the_training_runs_test_scores(trained, db):
    summary = evaluate(db, trained["five"], "split:natural", device="cpu")
    (train_run,) = table_rows(
        db, "SELECT run_id FROM runs WHERE split = 'natural' AND evaluated_on IS NULL"
    )
    recorded = dict(
        table_rows(
            db, "SELECT class, f1 FROM metrics WHERE run_id = ? AND part = 'test'", [train_run[0]]
        )
    )
    assert {k: summary.scores.f1(k) for k in recorded} == recorded
    assert summary.target == "split:natural"


def test_a_binary_model_maps_five_gold_classes_to_adme_and_says_so(trained, db, tmp_path):
    gold = write_gold(db, tmp_path / "gold.jsonl")
    summary = evaluate(db, trained["two"], f"gold:{tmp_path / 'gold.jsonl'}", device="cpu")
    assert summary.classes == ("adme", "other")
    assert any(note.startswith("mapped") and "to adme" in note for note in summary.notes)
    adme = sum(g["label"] != "other" for g in gold)
    assert summary.scores.rows["adme"][3] == adme
    assert summary.scores.rows["other"][3] == len(gold) - adme


def test_gold_labels_outside_the_models_classes_are_refused_and_nothing_is_stored(
    trained, db, tmp_path
):
    write_gold(db, tmp_path / "gold.jsonl", labels={"absorption": "uptake"})
    before = run_rows(db)
    with pytest.raises(AdmeError, match=r"labels \['uptake'\] are not among the model's classes"):
        evaluate(db, trained["five"], f"gold:{tmp_path / 'gold.jsonl'}", device="cpu")
    assert run_rows(db) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "x", "label": "other"}\nnot json\n', r"gold.jsonl:2: not a JSON object"),
        ('{"text": "x"}\n', r"gold.jsonl:1: not a JSON object with text and label"),
        ('{"text": "x", "label": null}\n', "no labelled paragraphs"),
    ],
)
def test_a_bad_gold_file_is_one_line_naming_the_line(trained, db, tmp_path, content, message):
    (tmp_path / "gold.jsonl").write_text(content)
    before = run_rows(db)
    with pytest.raises(AdmeError, match=message):
        evaluate(db, trained["five"], f"gold:{tmp_path / 'gold.jsonl'}", device="cpu")
    assert run_rows(db) == before


def test_targets_are_parsed_and_checked():
    assert parse_target("split:natural") == ("split", "natural")
    assert parse_target("gold:a:b.jsonl") == ("gold", "a:b.jsonl")
    for bad in ("natural", "reviews:", "nope:x"):
        with pytest.raises(AdmeError, match="expected one of split:..., gold:..."):
            parse_target(bad)


def test_cli_needs_exactly_one_target_and_prints_the_scores(trained, db, tmp_path):
    runner = CliRunner()
    base = ["evaluate", "--model", str(trained["five"]), "--db", str(db), "--device", "cpu"]
    neither = runner.invoke(app, base)
    assert neither.exit_code == 2 and "exactly one of --gold FILE or --on split:NAME" in (
        neither.output
    )
    unknown = runner.invoke(app, [*base, "--on", "split:nope"])
    assert unknown.exit_code == 1 and "unknown split 'nope'" in unknown.output
    done = runner.invoke(app, [*base, "--on", "split:natural"])
    assert done.exit_code == 0, done.output
    assert "macro-F1" in done.output and "stored as run eval-" in done.output
    plot = runner.invoke(
        app,
        [
            "plot",
            "per-class-f1",
            "--db",
            str(db),
            "--runs",
            "split:natural",
            "-o",
            str(tmp_path / "f1.png"),
        ],
    )
    assert plot.exit_code == 0, plot.output
    assert (tmp_path / "f1.png").stat().st_size > 0


def test_on_reviews_scores_the_reviewed_texts_with_the_label_in_force(trained, db, tmp_path):
    """`--on reviews`: every reviewed text once, scored against its reviewed label."""
    from adme.reviews import import_reviews, reviewed_texts

    no_reviews = CliRunner().invoke(
        app, ["evaluate", "--model", str(trained["five"]), "--db", str(db), "--on", "reviews"]
    )
    assert no_reviews.exit_code == 1 and "no reviewed paragraphs" in no_reviews.output
    rows = table_rows(
        db,
        "SELECT paragraph_id, rule_label FROM paragraphs WHERE rule_label IS NOT NULL "
        "ORDER BY paragraph_id LIMIT 12",
    )
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"paragraph_id": p, "label": r}) + "\n" for p, r in rows))
    assert import_reviews(db, answers, "ana").refused == []
    summary = evaluate(db, trained["five"], "reviews", device="cpu")
    found = reviewed_texts(db)
    model = load_model(trained["five"], CPU)
    predicted = model.predict_proba(found.texts).argmax(axis=1).tolist()
    truth = [model.classes.index(label) for label in found.labels]
    assert summary.scores == score(truth, predicted, model.classes)
    assert summary.target == "reviews" and run_rows(db)[-1][1:] == ("reviews", "reviews")
    assert any("reviewed texts" in note for note in summary.notes)


def test_model_scores_shows_each_folders_newest_evaluation_per_target(trained, db, tmp_path):
    """The quick start's comparison table: one row per model folder and target, newest wins."""
    gold_path = tmp_path / "gold.jsonl"
    write_gold(db, gold_path)
    first = evaluate(db, trained["five"], f"gold:{gold_path}", device="cpu")
    # the same folder on the same target again, now with hand labels that differ: its row must
    # show this newer score, not the first one and not both
    flipped = write_gold(db, gold_path, labels={"other": "absorption", "absorption": "other"})
    newest = evaluate(db, trained["five"], f"gold:{gold_path}", device="cpu")
    assert round(first.scores.f1("macro"), 3) != round(newest.scores.f1("macro"), 3)
    on_split = evaluate(db, trained["five"], "split:natural", device="cpu")
    columns, rows = reports.run_report(db, "model_scores")
    assert columns[:6] == ["scored_on", "model", "method", "paragraphs", "micro_f1", "macro_f1"]
    by_target = {(r[0], r[1]): r for r in rows}
    # training runs (evaluated_on NULL) are not evaluations and do not appear
    assert set(by_target) == {
        ("gold:gold.jsonl", str(trained["five"])),
        ("split:natural", str(trained["five"])),
    }
    for summary in (newest, on_split):
        row = by_target[(summary.target, str(trained["five"]))]
        assert row[2:6] == (
            "tfidf",
            summary.scores.rows["micro"][3],
            round(summary.scores.f1("micro"), 3),
            round(summary.scores.f1("macro"), 3),
        )
        per_class = dict(zip(columns[6:], row[6:], strict=True))
        for name in summary.classes:
            support = summary.scores.rows[name][3]
            expected = round(summary.scores.rows[name][2], 2) if support else None
            assert per_class[name] == expected, name
    assert newest.scores.rows["micro"][3] == len(flipped)
