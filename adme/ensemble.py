"""The `ensemble` model kind: TF-IDF and a BERT classifier, their probabilities mixed.

`benchmarks/RESULTS.md` measured that mixing a little of the small offline BERT into TF-IDF +
logistic regression scores above either alone on unseen drugs and on hand labels. This makes
that mix a model folder like any other:

    OUTPUT/adme.json   kind "ensemble", classes, the members and their weights, how the
                       weight was chosen, the run it came from and its test scores
    OUTPUT/tfidf/      a copy of the TF-IDF member folder
    OUTPUT/bert/       a copy of the BERT member folder

so the folder is self-contained (move or copy it whole). `load_ensemble` is its loader in
adme.model_folder.KINDS: `adme label`, `serve` and `evaluate` classify through it, and its
probabilities are `w * BERT + (1 - w) * TF-IDF`. `build_ensemble` (`adme ensemble`) picks `w`
on the split's VALIDATION part only (macro-F1, ties to the smaller BERT weight), scores the
test part once and records the run like `adme train` does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adme.errors import AdmeError
from adme.model_folder import MANIFEST, ModelInfo, read_info, write_info

KIND = "ensemble"
# member name -> the kind its folder must be (also its sub-folder's name in the ensemble)
MEMBER_KINDS = {"tfidf": "tfidf", "bert": "bert"}
# BERT weights tried on the validation part: 0, 0.05, ..., 1
WEIGHT_GRID = tuple(round(i * 0.05, 2) for i in range(21))


def mix(probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The ensemble's probabilities: the weighted sum of its members' (weights sum to 1).

    Used by the loaded classifier and by `build_ensemble`'s scoring alike, so the scores
    recorded for a run are exactly what `adme label` computes from the folder.
    """
    out = np.zeros_like(probs[0], dtype=np.float64)
    for p, w in zip(probs, weights, strict=True):
        out += w * p
    return out


@dataclass
class EnsembleClassifier:
    """Members (loaded classifiers) with weights; predict_proba is their weighted mix."""

    members: list
    weights: list[float]
    classes: tuple[str, ...]
    model_id: str
    info: ModelInfo | None = None
    notes: list[str] = field(default_factory=list)
    kind = KIND

    @property
    def max_length(self) -> int | None:
        """The token limit of the BERT member(s) (what `adme evaluate` records)."""
        limits = [getattr(m, "max_length", None) for m in self.members]
        return next((x for x in limits if x is not None), None)

    def predict_proba(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Class probabilities, (len(texts), len(classes)), rows in input order."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        probs = mix([m.predict_proba(texts) for m in self.members], self.weights)
        if on_batch:
            on_batch(len(texts))
        return probs


def ensemble_id(folder: Path, members: Sequence, weights: Sequence[float]) -> str:
    """`<folder name>@<12 hex>`: a hash of the members' weight hashes and the weights.

    Only the hash part of a member's id counts (not its folder's name), so the id is the same
    whether the members are read from their own folders or from the ensemble's copies.
    """
    parts = [[m.model_id.rpartition("@")[2], w] for m, w in zip(members, weights, strict=True)]
    digest = hashlib.sha256(json.dumps(parts).encode())
    return f"{folder.resolve().name}@{digest.hexdigest()[:12]}"


def _member_entries(folder: Path, info: ModelInfo) -> list[dict]:
    members = info.extra.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise AdmeError(f"{folder / MANIFEST}: an ensemble needs a list of at least two members")
    for entry in members:
        name = entry.get("folder") if isinstance(entry, dict) else None
        weight = entry.get("weight") if isinstance(entry, dict) else None
        # a member is a plain sub-folder name: nothing outside the ensemble's folder is read
        if not isinstance(name, str) or not name or Path(name).name != name or name in ("..", "."):
            raise AdmeError(f"{folder / MANIFEST}: member folder {name!r} is not a sub-folder name")
        if not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise AdmeError(
                f"{folder / MANIFEST}: member {name} weight {weight!r} is not in [0, 1]"
            )
    total = sum(entry["weight"] for entry in members)
    if abs(total - 1.0) > 1e-9:
        raise AdmeError(f"{folder / MANIFEST}: member weights sum to {total}, not 1")
    return members


def load_ensemble(folder: Path, info: ModelInfo, options) -> EnsembleClassifier:
    """The `ensemble` loader of adme.model_folder.KINDS: each member through `load_model`.

    A member missing, not loadable, or with classes in another order than the ensemble's is a
    one-line AdmeError.
    """
    from adme.inference import load_model

    entries = _member_entries(folder, info)
    members, notes = [], []
    for entry in entries:
        member = load_model(folder / entry["folder"], options)
        if entry.get("kind") not in (None, member.kind):
            raise AdmeError(
                f"{folder / entry['folder']}: member is kind {member.kind!r}, "
                f"adme.json says {entry['kind']!r}"
            )
        if tuple(member.classes) != tuple(info.classes):
            raise AdmeError(
                f"{folder / entry['folder']}: member classes {list(member.classes)} differ from "
                f"the ensemble's {list(info.classes)}"
            )
        members.append(member)
        notes += member.notes
    weights = [float(entry["weight"]) for entry in entries]
    classifier = EnsembleClassifier(
        members, weights, tuple(info.classes), ensemble_id(folder, members, weights), info
    )
    classifier.notes = notes
    return classifier


# --- building one: `adme ensemble` ------------------------------------------------------------


@dataclass
class WeightChoice:
    """The chosen BERT weight and the validation macro-F1 of every weight tried."""

    bert_weight: float
    validation_macro_f1: dict[float, float]


def choose_weight(
    labels: Sequence[int],
    tfidf_probs: np.ndarray,
    bert_probs: np.ndarray,
    classes: Sequence[str],
    grid: Sequence[float] = WEIGHT_GRID,
) -> WeightChoice:
    """Pick the BERT weight by macro-F1 on the given (validation) rows; ties: the smaller.

    The smaller weight wins a tie because TF-IDF is the cheaper, measured-stronger member.
    """
    from adme.runs import score

    curve = {}
    for w in sorted(grid):
        mixed = mix([tfidf_probs, bert_probs], [1.0 - w, w])
        curve[w] = score(labels, mixed.argmax(axis=1).tolist(), classes).f1("macro")
    best = max(curve.values())
    return WeightChoice(min(w for w, f in curve.items() if f == best), curve)


def check_members(tfidf: ModelInfo, bert: ModelInfo, split: str, classes: Sequence[str]) -> None:
    """Refuse members that cannot be mixed or whose validation part is not held out."""
    for name, info in (("tfidf", tfidf), ("bert", bert)):
        if info.kind != MEMBER_KINDS[name]:
            raise AdmeError(
                f"{info.folder}: --{name} needs a {MEMBER_KINDS[name]} model folder, "
                f"this one is kind {info.kind!r}"
            )
    if tuple(tfidf.classes) != tuple(bert.classes):
        raise AdmeError(
            f"{bert.folder}: class order {list(bert.classes)} differs from the TF-IDF member's "
            f"{list(tfidf.classes)} ({tfidf.folder}); train both on the same split"
        )
    if tuple(classes) != tuple(tfidf.classes):
        raise AdmeError(
            f"split {split!r}: classes {list(classes)} differ from the members' "
            f"{list(tfidf.classes)}"
        )
    for info in (tfidf, bert):
        if info.split is not None and info.split != split:
            raise AdmeError(
                f"{info.folder}: trained on split {info.split!r}, not {split!r}: that split's "
                "validation part may be its training data, so it cannot choose the weight"
            )


@dataclass
class EnsembleSummary:
    """What `adme ensemble` chose, measured and wrote."""

    output: Path
    run_id: str
    model_id: str
    choice: WeightChoice
    scores: dict[str, dict[str, object]]  # part -> {"ensemble"|"tfidf"|"bert": Scores}

    def lines(self) -> list[str]:
        """The weight, and micro/macro-F1 per part for the ensemble and each member alone."""
        out = [
            f"BERT weight {self.choice.bert_weight:.2f} (TF-IDF {1 - self.choice.bert_weight:.2f}),"
            " chosen by macro-F1 on the validation part (ties: the smaller BERT weight)"
        ]
        for part, by_model in self.scores.items():
            for name, s in by_model.items():
                out.append(
                    f"  {part:<10} {name:<8} micro-F1 {s.f1('micro'):.4f}  "
                    f"macro-F1 {s.f1('macro'):.4f}"
                )
        out.append(f"run {self.run_id} -> {self.output} ({self.model_id})")
        return out


def _copy_member(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoint-*"))


def _check_output(output: Path, members: Sequence[Path]) -> None:
    out = output.resolve()
    for member in members:
        m = member.resolve()
        if out == m or m in out.parents or out in m.parents:
            raise AdmeError(
                f"{output}: the ensemble folder must lie outside its members' ({member})"
            )
    if output.exists() and not output.is_dir():
        raise AdmeError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()):
        manifest = output / MANIFEST
        if manifest.is_file() and read_info(output).kind == KIND:
            return  # rebuilding an ensemble folder in place (a rerun)
        raise AdmeError(f"{output}: folder is not empty and holds no ensemble; choose another")


def build_ensemble(
    db_path: str | Path,
    *,
    tfidf: str | Path,
    bert: str | Path,
    split: str,
    output: str | Path,
    device: str = "auto",
    batch_size: int = 64,
) -> EnsembleSummary:
    """Mix a TF-IDF and a BERT folder trained on SPLIT into one ensemble folder at OUTPUT.

    The BERT weight is chosen on the split's validation part only; the test part is scored
    once with it. Everything is checked before anything is written; the run is recorded in
    `runs` / `metrics` / `confusion` like a training run (method `ensemble`), and adme.json is
    written last, so a folder with one is whole.
    """
    from adme.inference import InferenceOptions, load_model
    from adme.runs import RunResult, metrics_json, model_card, record_run, score
    from adme.split import load_split

    tfidf, bert, output = Path(tfidf), Path(bert), Path(output)
    infos = {"tfidf": read_info(tfidf), "bert": read_info(bert)}
    if not Path(db_path).exists():
        raise AdmeError(f"{db_path}: database does not exist")
    data = load_split(db_path, split)
    check_members(infos["tfidf"], infos["bert"], split, data.classes)
    validation, test = data.parts["validation"], data.parts["test"]
    if not validation.labels:
        raise AdmeError(f"split {split!r}: no validation part to choose the weight on")
    if not test.labels:
        raise AdmeError(f"split {split!r}: the test part is empty")
    _check_output(output, [tfidf, bert])
    # scored like a training run: the full-precision model (label's CPU default may reduce it)
    options = InferenceOptions(device=device, batch_size=batch_size, precision="full")
    members = {
        name: load_model(folder, options) for name, folder in (("tfidf", tfidf), ("bert", bert))
    }
    probs = {
        part: {name: m.predict_proba(rows.texts) for name, m in members.items()}
        for part, rows in (("validation", validation), ("test", test))
    }
    choice = choose_weight(
        validation.labels, probs["validation"]["tfidf"], probs["validation"]["bert"], data.classes
    )
    weights = {"tfidf": 1.0 - choice.bert_weight, "bert": choice.bert_weight}
    scores: dict[str, dict[str, object]] = {}
    for part, rows in (("validation", validation), ("test", test)):
        mixed = mix(
            [probs[part]["tfidf"], probs[part]["bert"]], [weights["tfidf"], weights["bert"]]
        )
        scores[part] = {
            "ensemble": score(rows.labels, mixed.argmax(axis=1).tolist(), data.classes),
            **{
                name: score(rows.labels, p.argmax(axis=1).tolist(), data.classes)
                for name, p in probs[part].items()
            },
        }
    seed = infos["bert"].extra.get("seed")
    started = dt.datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    run = RunResult(
        run_id=f"{split}-ensemble-s{seed}-{stamp}-{uuid.uuid4().hex[:6]}",
        seed=seed,
        output=output,
        params={
            "method": KIND,
            "seed": seed,
            "bert_weight": choice.bert_weight,
            "weight_grid": list(WEIGHT_GRID),
            "weight_chosen_on": "validation macro-F1 (ties: the smaller BERT weight)",
            "validation_macro_f1_by_weight": {
                str(w): f for w, f in choice.validation_macro_f1.items()
            },
            "members": {
                name: {
                    "source": str(info.folder),
                    "run_id": info.run_id,
                    "method": info.method,
                    "base_model": info.base_model,
                }
                for name, info in infos.items()
            },
        },
        scores={part: by_model["ensemble"] for part, by_model in scores.items()},
        started=started,
    )
    output.mkdir(parents=True, exist_ok=True)
    (output / MANIFEST).unlink(missing_ok=True)  # not whole until adme.json is written again
    for name, folder in (("tfidf", tfidf), ("bert", bert)):
        _copy_member(folder, output / name)
    base_model = infos["bert"].base_model or str(bert)
    model_name = f"ensemble(tfidf, {base_model})"
    from adme.losses import class_counts

    counts = class_counts(data.parts["train"].labels, len(data.classes))
    metrics = metrics_json(run, data, model_name)
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (output / "README.md").write_text(model_card(run, data, model_name, counts))
    info = ModelInfo(
        folder=output,
        kind=KIND,
        classes=tuple(data.classes),
        max_length=infos["bert"].max_length,
        split=split,
        run_id=run.run_id,
        method=KIND,
        base_model=model_name,
        test_scores=metrics.get("test", {}),
        extra={
            "seed": seed,
            "members": [
                {"folder": name, "kind": MEMBER_KINDS[name], "weight": weights[name]}
                for name in ("tfidf", "bert")
            ],
            "weight_choice": {
                "part": "validation",
                "metric": "macro-F1",
                "bert_weight": choice.bert_weight,
            },
        },
    )
    run.finished = dt.datetime.now()
    record_run(
        db_path,
        run,
        split_name=split,
        classes=data.classes,
        model_name=model_name,
        split_id=data.content_id,
    )
    write_info(info)
    model_id = ensemble_id(output, list(members.values()), [weights["tfidf"], weights["bert"]])
    return EnsembleSummary(output, run.run_id, model_id, choice, scores)
