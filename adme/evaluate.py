"""`adme evaluate`: score any model folder against labelled paragraphs, stored as a run.

What it is scored on is a target, `KIND:VALUE`, read by one small parser (`parse_target`):
`split:NAME` is a stored split's test part, `gold:FILE` a JSONL file of hand labels (fields
`text`, `label`, `text_hash`; a null label is skipped and counted). A new kind of target is one
entry in `TARGETS`. The model classifies through adme/inference.py, the path `adme label`
takes; the result is a run in `runs` / `metrics` / `confusion` (part `test`, `split` = the
target, `evaluated_on` = the target) so `runs_summary`, `adme plot per-class-f1` and the other
run reports show it, and its predictions for paragraphs the database holds are stored as
`adme label` would store them, so `model_compare` can set two models side by side.

Gold labels outside the model's classes are handled explicitly: five ADME classes are mapped to
`adme` for a binary adme-vs-other model (and it says so); anything else is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from adme import store
from adme.errors import AdmeError, UsageError
from adme.inference import InferenceOptions, load_model, predictions
from adme.rules import ADME_CLASSES, BINARY_CLASSES
from adme.runs import RunResult, Scores, record_run, score
from adme.wording import count


@dataclass
class EvalSet:
    """Labelled texts to score a model on, and which stored paragraph each text is (if any)."""

    target: str
    texts: list[str]
    labels: list[str]
    paragraph_ids: list[list[str]]  # stored paragraphs with exactly this text (maybe none)
    notes: list[str] = field(default_factory=list)


# --- targets ---------------------------------------------------------------------------------


def split_target(db_path: str | Path, name: str) -> EvalSet:
    """The test part of a stored split."""
    from adme.split import load_split

    if not Path(db_path).exists():
        raise AdmeError(f"{db_path}: database does not exist")
    data = load_split(db_path, name)
    test = data.parts["test"]
    if not test.labels:
        raise AdmeError(f"split {name!r}: the test part is empty")
    labels = [data.classes[i] for i in test.labels]
    ids = [[pid] for pid in test.paragraph_ids]
    note = f"scored the test part of split {name!r}: {count(len(labels), 'paragraph')}"
    return EvalSet(f"split:{name}", list(test.texts), labels, ids, [note])


def gold_target(db_path: str | Path, file: str) -> EvalSet:
    """Hand-labelled paragraphs from a JSONL file (text, label, text_hash); null labels skipped."""
    path = Path(file)
    if not path.is_file():
        raise AdmeError(f"{path}: gold file does not exist")
    texts: list[str] = []
    labels: list[str] = []
    hashes: list[str] = []
    skipped = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, label = row["text"], row["label"]
            except (ValueError, KeyError, TypeError) as exc:
                raise AdmeError(
                    f"{path}:{number}: not a JSON object with text and label ({exc})"
                ) from exc
            if label is None:
                skipped += 1
                continue
            if not isinstance(text, str) or not isinstance(label, str) or not text.strip():
                raise AdmeError(f"{path}:{number}: text and label must be non-empty strings")
            texts.append(text)
            labels.append(label)
            # the file's hash, and today's: the README says the hash may have changed since
            hashes += [h for h in (row.get("text_hash"), store.text_hash(text)) if h]
    if not texts:
        raise AdmeError(f"{path}: no labelled paragraphs (the file is empty or every label null)")
    notes = [f"read {len(texts)} labelled paragraphs from {path}"]
    if skipped:
        notes.append(
            f"skipped {count(skipped, 'paragraph')} whose label is null (annotators disagreed)"
        )
    ids = _stored_paragraphs(db_path, texts, hashes)
    return EvalSet(f"gold:{path.name}", texts, labels, ids, notes)


def _stored_paragraphs(
    db_path: str | Path, texts: Sequence[str], hashes: Sequence[str]
) -> list[list[str]]:
    """For each text, the stored paragraphs whose text is exactly it (found via text_hash).

    Only an exact text match counts: the stored prediction must be of the text scored.
    """
    if not Path(db_path).exists():
        return [[] for _ in texts]
    wanted = pa.table({"text_hash": pa.array(sorted(set(hashes)), pa.string())})
    with store.connect(db_path, read_only=True) as con:
        con.register("wanted_hashes", wanted)
        try:
            rows = con.execute(store.sql_text("queries/paragraphs_by_hash")).fetchall()
        finally:
            con.unregister("wanted_hashes")
    by_text: dict[str, list[str]] = {}
    for paragraph_id, text in rows:
        by_text.setdefault(text, []).append(paragraph_id)
    return [by_text.get(text, []) for text in texts]


def reviews_target(db_path: str | Path, _value: str = "") -> EvalSet:
    """Every reviewed text with the label in force (adme review import, the review page)."""
    from adme.reviews import reviewed_texts

    found = reviewed_texts(db_path)
    note = (
        f"scored {count(len(found.texts), 'reviewed text')} (labels in force, "
        f"{count(found.reviewers, 'reviewer')}); a model trained with `adme split --reviews` "
        "has seen some of them"
    )
    return EvalSet("reviews", found.texts, found.labels, found.paragraph_ids, [note])


# kind -> reader(db_path, value); `evaluate --on KIND:VALUE`
TARGETS: dict[str, Callable[[str | Path, str], EvalSet]] = {
    "split": split_target,
    "gold": gold_target,
    "reviews": reviews_target,
}
BARE_TARGETS = frozenset({"reviews"})  # kinds that take no VALUE: `--on reviews`


def parse_target(text: str) -> tuple[str, str]:
    """`KIND:VALUE` -> (kind, value), checked against TARGETS."""
    if text in BARE_TARGETS:
        return text, ""
    kind, sep, value = text.partition(":")
    if not sep or not value or kind not in TARGETS or kind in BARE_TARGETS:
        known = ", ".join(k if k in BARE_TARGETS else f"{k}:..." for k in TARGETS)
        raise UsageError(f"--on {text!r}: expected one of {known} (e.g. split:natural)")
    return kind, value


def load_target(db_path: str | Path, target: str) -> EvalSet:
    """Read the labelled texts a target names."""
    kind, value = parse_target(target)
    return TARGETS[kind](db_path, value)


# --- labels ----------------------------------------------------------------------------------


def map_labels(labels: Sequence[str], classes: Sequence[str], model_dir) -> tuple[list[str], str]:
    """Gold labels in the model's classes, and a note when they were mapped.

    Five ADME labels become `adme` for a binary adme-vs-other model; any other label the model
    does not know is refused: a score over silently dropped rows would mislead.
    """
    known = set(classes)
    unknown = sorted(set(labels) - known)
    if not unknown:
        return list(labels), ""
    if set(classes) == set(BINARY_CLASSES) and set(unknown) <= set(ADME_CLASSES):
        mapped = ["adme" if label in ADME_CLASSES else label for label in labels]
        return mapped, f"mapped {', '.join(unknown)} to adme for this adme-vs-other model"
    raise AdmeError(
        f"{model_dir}: labels {unknown} are not among the model's classes {list(classes)}; "
        "evaluate it on labels in its own classes"
    )


# --- the command -----------------------------------------------------------------------------


@dataclass
class EvaluationSummary:
    """What one `adme evaluate` measured and stored."""

    run_id: str
    model_id: str
    target: str
    classes: tuple[str, ...]
    scores: Scores
    stored_predictions: int
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Micro/macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
        rows = self.scores.rows
        out = [
            f"{self.model_id} on {self.target}: micro-F1 {rows['micro'][2]:.4f}, "
            f"macro-F1 {rows['macro'][2]:.4f} ({count(rows['micro'][3], 'paragraph')})",
            f"{'class':<14} {'precision':>9} {'recall':>9} {'F1':>9} {'support':>8}",
        ]
        for name in (*self.classes, "micro", "macro"):
            p, r, f, s = rows[name]
            out.append(f"{name:<14} {p:>9.4f} {r:>9.4f} {f:>9.4f} {s:>8}")
        width = max(len(c) for c in self.classes) + 1
        out.append("confusion (rows: true, columns: predicted)")
        out.append(" " * width + " ".join(f"{c[:width]:>{width}}" for c in self.classes))
        for name, row in zip(self.classes, self.scores.confusion, strict=True):
            out.append(f"{name:<{width}}" + " ".join(f"{n:>{width}}" for n in row))
        out.append(
            f"stored as run {self.run_id}; {count(self.stored_predictions, 'stored paragraph')} "
            "got this model's predictions"
        )
        return out


def evaluate(
    db_path: str | Path,
    model_dir: str | Path,
    target: str,
    *,
    device: str = "auto",
    batch_size: int = 64,
    max_length: int | None = None,
    precision: str = "auto",
) -> EvaluationSummary:
    """Score the model in MODEL_DIR on TARGET, store the run and the predictions, return both.

    Everything is read and checked (model, target, labels) before anything is written; the run
    and its rows are written in one transaction. `precision` is adme.inference's (auto:
    reduced precision on the CPU); the run's params record what it resolved to.
    """
    kind, _ = parse_target(target)
    options = InferenceOptions(
        device=device, batch_size=batch_size, max_length=max_length, precision=precision
    )
    classifier = load_model(model_dir, options)
    data = load_target(db_path, target)
    gold, mapping = map_labels(data.labels, classifier.classes, model_dir)
    started = dt.datetime.now()
    probs = classifier.predict_proba(data.texts)
    found = predictions(probs, classifier.classes)
    index = {name: i for i, name in enumerate(classifier.classes)}
    scores = score([index[g] for g in gold], probs.argmax(axis=1).tolist(), classifier.classes)
    info = classifier.info
    notes = [*classifier.notes, *data.notes, *([mapping] if mapping else [])]
    if kind == "split" and info is not None and info.split and f"split:{info.split}" != target:
        notes.append(
            f"the model was trained on split {info.split!r}: its training paragraphs may "
            f"overlap the test part of {target}"
        )
    run = RunResult(
        run_id=_run_id(info.run_id if info else None, model_dir, data.target),
        seed=info.extra.get("seed") if info else None,
        output=Path(model_dir),
        params={
            "method": (info.method if info else None) or "unknown",
            "evaluated_on": data.target,
            "model_dir": str(model_dir),
            "model_id": classifier.model_id,
            "model_run": info.run_id if info else None,
            "kind": classifier.kind,
            "max_length": getattr(classifier, "max_length", None),
            "precision": getattr(classifier, "precision", None),
            "label_mapping": mapping or None,
            "notes": notes,
        },
        scores={"test": scores},
        started=started,
        finished=dt.datetime.now(),
    )
    base_model = (info.base_model if info else None) or classifier.model_id
    stored = _store(db_path, run, data, found, classifier, base_model)
    return EvaluationSummary(
        run.run_id, classifier.model_id, data.target, classifier.classes, scores, stored, notes
    )


def _run_id(model_run: str | None, model_dir, target: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = model_run or Path(model_dir).resolve().name
    return f"eval-{name}-on-{target.replace(':', '-')}-{stamp}-{uuid.uuid4().hex[:6]}"


def _store(db_path, run: RunResult, data: EvalSet, found, classifier, base_model: str) -> int:
    """Record the run (evaluated_on = the target) and predictions for the stored paragraphs."""
    from adme.label import write_predictions

    record_run(
        db_path,
        run,
        split_name=data.target,
        classes=classifier.classes,
        model_name=base_model,
        evaluated_on=data.target,
    )
    pairs = {pid: p for ids, p in zip(data.paragraph_ids, found, strict=True) for pid in ids}
    if not pairs:
        return 0
    with store.connect(db_path) as con:
        write_predictions(con, classifier.model_id, sorted(pairs.items()))
    return len(pairs)
