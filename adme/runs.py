"""A finished run's scores, model card, metrics.json and database rows.

What `adme train` leaves behind once a seed has trained: per-part scores, the model folder's
README.md and metrics.json, the runs / metrics / confusion rows, and the mean ± standard error
over seeds. Nothing here touches a model's weights beyond saving them, so adme/train.py holds
only the training itself.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from adme import store
from adme.losses import class_counts
from adme.split import PARTS, SplitData
from adme.wording import count

# ----------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class Scores:
    """Scores of one part: per-class and micro/macro (precision, recall, f1, support)."""

    rows: dict[str, tuple[float, float, float, int]]
    confusion: list[list[int]]

    def f1(self, name: str) -> float:
        """F1 of a class, or of 'micro' / 'macro'."""
        return self.rows[name][2]


def score(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> Scores:
    """Per-class, micro and macro precision/recall/F1 and the confusion matrix (scikit-learn)."""
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    rows = {c: (float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, c in enumerate(classes)}
    for average in ("micro", "macro"):
        ap, ar, af, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        rows[average] = (float(ap), float(ar), float(af), len(y_true))
    matrix = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return Scores(rows, matrix)


# ----------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    """One finished run (one seed): its id, folder, chosen hyperparameters and scores."""

    run_id: str
    seed: int
    output: Path
    params: dict
    scores: dict[str, Scores]
    started: dt.datetime
    finished: dt.datetime | None = None


def model_card(run: RunResult, split: SplitData, model_name: str, counts: Sequence[int]) -> str:
    """The README.md of a trained model folder: data, split, method, hyperparameters, scores."""
    lines = [
        f"# adme ADME classifier `{run.run_id}`",
        "",
        "Classifies a pharmacokinetics paragraph of an FDA drug label (its text only, never its "
        f"heading) into: {', '.join(split.classes)}.",
        "",
        "## Data",
        f"- split `{split.name}`: " + ", ".join(f"{p} {len(split.parts[p].labels)}" for p in PARTS),
        "- training rows per class: "
        + ", ".join(f"{c} {n}" for c, n in zip(split.classes, counts, strict=True)),
        "",
        "## Method and hyperparameters",
        f"- base model `{model_name}`, method `{run.params['method']}`, seed {run.seed}",
        "```json",
        json.dumps(run.params, indent=2, sort_keys=True),
        "```",
    ]
    for part, scores in run.scores.items():
        lines += [
            "",
            f"## Scores: {part} part",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c} | {p:.4f} | {r:.4f} | {f:.4f} | {s} |"
            for c, (p, r, f, s) in scores.rows.items()
        ]
    return "\n".join(lines) + "\n"


def metrics_json(run: RunResult, split: SplitData, model_name: str) -> dict:
    """Everything a run measured, as written to metrics.json."""
    return {
        "run_id": run.run_id,
        "split": split.name,
        "split_id": split.content_id,
        "model": model_name,
        "seed": run.seed,
        "classes": list(split.classes),
        "params": run.params,
        **{
            part: {
                "classes": {
                    c: dict(zip(("precision", "recall", "f1", "support"), v, strict=True))
                    for c, v in scores.rows.items()
                },
                "confusion": scores.confusion,
            }
            for part, scores in run.scores.items()
        },
    }


_RUN_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("split", pa.string()),
        ("split_id", pa.string()),
        ("method", pa.string()),
        ("model", pa.string()),
        ("params", pa.string()),
        ("seed", pa.int64()),
        ("started", pa.timestamp("us")),
        ("finished", pa.timestamp("us")),
        ("output", pa.string()),
        ("sweep", pa.string()),
        ("evaluated_on", pa.string()),
    ]
)


def record_run(
    db_path: str | Path,
    run: RunResult,
    *,
    split_name: str,
    classes: Sequence[str],
    model_name: str,
    sweep: str | None = None,
    evaluated_on: str | None = None,
    split_id: str | None = None,
) -> None:
    """Write the runs, metrics and confusion rows of a finished run in one transaction.

    SWEEP tags the run as a cell of that `adme sweep`, in the same transaction, so a cell is
    either fully recorded and tagged or not there at all. A training run is scored on its
    split's parts (`evaluated_on` NULL); an `adme evaluate` run names what it was scored on
    (e.g. `gold:unlabelled_gold.jsonl`) there and in `split`. SPLIT_ID is the content identity
    of the split a training run used, so reports never mix two versions of one split name.
    """
    run_row = pa.Table.from_pylist(
        [
            {
                "run_id": run.run_id,
                "split": split_name,
                "split_id": split_id,
                "method": run.params["method"],
                "model": model_name,
                "params": json.dumps(run.params, sort_keys=True),
                "seed": run.seed,
                "started": run.started,
                "finished": run.finished,
                "output": str(run.output),
                "sweep": sweep,
                "evaluated_on": evaluated_on,
            }
        ],
        schema=_RUN_SCHEMA,
    )
    metric_rows = [
        {
            "run_id": run.run_id,
            "part": part,
            "class": name,
            "precision": p,
            "recall": r,
            "f1": f,
            "support": s,
        }
        for part, scores in run.scores.items()
        for name, (p, r, f, s) in scores.rows.items()
    ]
    confusion_rows = [
        {
            "run_id": run.run_id,
            "part": part,
            "true_label": classes[i],
            "pred_label": classes[j],
            "n": n,
        }
        for part, scores in run.scores.items()
        for i, row in enumerate(scores.confusion)
        for j, n in enumerate(row)
    ]
    con = store.connect(db_path)
    try:
        con.register("new_run", run_row)
        con.register("new_metrics", pa.Table.from_pylist(metric_rows))
        con.register("new_confusion", pa.Table.from_pylist(confusion_rows))
        with store.transaction(con):
            con.execute(store.sql_text("queries/record_run"))
    finally:
        con.close()


def save_run(run: RunResult, split: SplitData, model_name: str, classifier) -> None:
    """Write the model folder: weights, metrics.json, README.md, and last adme.json.

    A BERT folder holds safetensors weights and the tokenizer; a TF-IDF folder its vocabulary
    and arrays (adme/tfidf.py, no pickle). adme.json (adme/model_folder.py) says which, and is
    written last: a folder that has one is complete.
    """
    from adme.model_folder import ModelInfo, write_info

    run.output.mkdir(parents=True, exist_ok=True)
    stale = run.output / "adme.json"
    stale.unlink(missing_ok=True)  # a folder being rewritten is not whole until the end
    if classifier.kind == "tfidf":
        from adme.tfidf import save_weights

        save_weights(classifier.weights, run.output)
        max_length = None
    else:
        classifier.model.save_pretrained(run.output)
        classifier.tokenizer.save_pretrained(run.output)
        max_length = classifier.max_length
    counts = class_counts(split.parts["train"].labels, len(split.classes))
    metrics = metrics_json(run, split, model_name)
    (run.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (run.output / "README.md").write_text(model_card(run, split, model_name, counts))
    info = ModelInfo(
        folder=run.output,
        kind=classifier.kind,
        classes=tuple(split.classes),
        max_length=max_length,
        split=split.name,
        run_id=run.run_id,
        method=run.params["method"],
        base_model=model_name,
        test_scores=metrics.get("test", {}),
        extra={"seed": run.seed},
    )
    write_info(info)


# ----------------------------------------------------------------------------- summary


def mean_se(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean (None for a single value)."""
    if len(values) < 2:
        return float(values[0]), None
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(len(values)))


@dataclass
class TrainSummary:
    """All seeds of one `adme train`, with mean ± standard error of the test scores."""

    split: str
    method: str
    model: str
    classes: tuple[str, ...]
    runs: list[RunResult]
    baseline: Scores | None = None  # TF-IDF + logistic regression on the same split's test part

    def test_f1(self) -> dict[str, tuple[float, float | None]]:
        """Mean ± SE over seeds of micro-F1, macro-F1 and each class's F1 on the test part."""
        names = ("micro", "macro", *self.classes)
        return {n: mean_se([r.scores["test"].f1(n) for r in self.runs]) for n in names}

    def render(self) -> str:
        """Human-readable lines for the CLI."""
        lines = [f"split {self.split}, method {self.method}, model {self.model}"]
        for run in self.runs:
            test = run.scores["test"]
            lines.append(
                f"  {run.run_id}: test micro-F1 {test.f1('micro'):.4f} "
                f"macro-F1 {test.f1('macro'):.4f} -> {run.output}"
            )
        lines.append(f"test F1, mean ± SE over {count(len(self.runs), 'seed')}:")
        for name, (mean, se) in self.test_f1().items():
            lines.append(f"  {name:<14} {mean:.4f}" + (f" ± {se:.4f}" if se is not None else ""))
        return "\n".join(lines)

    def baseline_warning(self) -> str | None:
        """One line when the model scores below TF-IDF on the same test part (mean macro-F1)."""
        if self.baseline is None:
            return None
        ours, theirs = self.test_f1()["macro"][0], self.baseline.f1("macro")
        if ours >= theirs:
            return None
        return (
            f"warning: below the TF-IDF baseline on split {self.split}'s test part: macro-F1 "
            f"{ours:.4f} vs {theirs:.4f} (micro {self.test_f1()['micro'][0]:.4f} vs "
            f"{self.baseline.f1('micro'):.4f}); see benchmarks/RESULTS.md for which model to use"
        )
