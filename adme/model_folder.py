"""The model-folder contract: `adme.json`, one small versioned description of a trained model.

Every folder `adme train` writes carries it: what kind of model it is (which loader reads it),
its classes in output order, the token limit and text normalisation it was trained with, the
split and run it came from and its test scores. `adme label`, `serve` and `evaluate` read it,
so a model is used the way it was trained without repeating options.

The kinds of model folder live in ONE table, `KINDS`: kind -> "module:function" of the loader
that turns the folder into a classifier (adme/inference.py). Adding a kind is one line there
and one loader; nothing here imports torch or scikit-learn.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adme.errors import AdmeError

MANIFEST = "adme.json"
FORMAT = "adme-model"
FORMAT_VERSION = 1
DEFAULT_MAX_LENGTH = 128
# the text a model reads: the paragraph as `adme fetch` stores it (heading removed,
# whitespace-normalised prose, tab/newline-joined tables); nothing more is done to it
TEXT_NORMALISATION = "adme-paragraph"

# kind -> "module:function" of its loader: (folder, info, options) -> classifier
KINDS: dict[str, str] = {
    "bert": "adme.inference:load_bert",
    "ensemble": "adme.ensemble:load_ensemble",
    "tfidf": "adme.tfidf:load_tfidf",
}


@dataclass(frozen=True)
class ModelInfo:
    """What adme.json says about a model folder (or what a folder without one implies)."""

    folder: Path
    kind: str
    classes: tuple[str, ...]
    max_length: int | None = DEFAULT_MAX_LENGTH
    text_normalisation: str = TEXT_NORMALISATION
    split: str | None = None
    run_id: str | None = None
    method: str | None = None
    base_model: str | None = None
    test_scores: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # set when the description was inferred, not read

    def manifest(self) -> dict[str, Any]:
        """The JSON object written as adme.json."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "classes": list(self.classes),
            "max_length": self.max_length,
            "text_normalisation": self.text_normalisation,
            "split": self.split,
            "run_id": self.run_id,
            "method": self.method,
            "base_model": self.base_model,
            "test_scores": self.test_scores,
            "created_at": self.created_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **self.extra,
        }


def write_info(info: ModelInfo) -> Path:
    """Write `info` as the folder's adme.json; written last, so a folder with one is whole."""
    if info.kind not in KINDS:
        raise AdmeError(f"{info.folder}: unknown model kind {info.kind!r} ({_known()})")
    path = info.folder / MANIFEST
    path.write_text(json.dumps(info.manifest(), indent=2, sort_keys=True) + "\n")
    return path


_FIELDS = (
    "kind",
    "classes",
    "max_length",
    "text_normalisation",
    "split",
    "run_id",
    "method",
    "base_model",
    "test_scores",
    "created_at",
)


def read_info(model_dir: str | Path) -> ModelInfo:
    """Read and check a folder's adme.json; a folder from before adme.json is described by guess.

    A missing folder, an unreadable or foreign adme.json, an unknown kind or a newer
    format_version is a one-line AdmeError. A Hugging Face classifier folder without adme.json
    (written by an older adme) is read as kind `bert` with its config's labels, and `note` says
    so; an old pickled TF-IDF folder is refused (loading a pickle runs code).
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise AdmeError(f"{folder}: model folder does not exist")
    path = folder / MANIFEST
    if not path.is_file():
        return _legacy_info(folder)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AdmeError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AdmeError(f"{path}: not an adme model description (format is not {FORMAT!r})")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise AdmeError(f"{path}: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise AdmeError(
            f"{path}: format_version {version} was written by a newer adme "
            f"(this one reads up to {FORMAT_VERSION}); upgrade adme"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise AdmeError(f"{path}: unknown model kind {kind!r} ({_known()})")
    classes = data.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) for c in classes)
    ):
        raise AdmeError(f"{path}: classes must be a list of at least two names")
    max_length = data.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise AdmeError(f"{path}: max_length {max_length!r} is not a positive integer")
    known = {k: data.get(k) for k in _FIELDS}
    skip = {*_FIELDS, "format", "format_version"}
    extra = {k: v for k, v in data.items() if k not in skip}
    return ModelInfo(
        folder=folder,
        kind=kind,
        classes=tuple(classes),
        max_length=max_length,
        text_normalisation=known["text_normalisation"] or TEXT_NORMALISATION,
        split=known["split"],
        run_id=known["run_id"],
        method=known["method"],
        base_model=known["base_model"],
        test_scores=known["test_scores"] or {},
        created_at=known["created_at"],
        extra=extra,
    )


def _legacy_info(folder: Path) -> ModelInfo:
    if (folder / "tfidf_logreg.joblib").is_file():
        raise AdmeError(
            f"{folder}: an old pickled TF-IDF folder (tfidf_logreg.joblib, no adme.json); "
            "adme no longer loads pickles: retrain it with `adme train --method tfidf`"
        )
    config = folder / "config.json"
    if not config.is_file():
        raise AdmeError(
            f"{folder}: not an adme model folder (no {MANIFEST}, no config.json); "
            "train one with `adme train`"
        )
    try:
        data = json.loads(config.read_text())
        id2label = {int(i): str(name) for i, name in (data.get("id2label") or {}).items()}
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise AdmeError(f"{config}: not a usable Hugging Face config ({exc})") from exc
    classes = tuple(id2label[i] for i in sorted(id2label))
    return ModelInfo(
        folder=folder,
        kind="bert",
        classes=classes,
        max_length=None,
        note=f"{folder}: no {MANIFEST} (a folder from an older adme or elsewhere): "
        "read as a Hugging Face classifier with the default token limit",
    )


def loader_for(kind: str) -> Callable:
    """The loader function registered for `kind` in KINDS."""
    if kind not in KINDS:
        raise AdmeError(f"unknown model kind {kind!r} ({_known()})")
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def _known() -> str:
    return "known kinds: " + ", ".join(sorted(KINDS))


# ---------------------------------------------------------------------------------------------
# A base model given on the command line: a local folder or a Hugging Face hub id

# A hub id as the hub accepts it: `name` or `owner/name`, letters, digits, `-`, `_`, `.`.
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?:{_HUB_PART}/)?{_HUB_PART}$")
_TRUE = frozenset({"1", "on", "yes", "true"})


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids asking the hub."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def looks_like_hub_id(value: str) -> bool:
    """True for `name` or `owner/name` that is not a path on this machine.

    A value with more than one `/`, a leading `.`, `/` or `~`, a backslash, `--` or `..`, or
    whose first part is an existing folder here (`models/nope` beside a `models/` folder) is a
    path, never sent to the hub.
    """
    if not _HUB_ID.match(value) or "--" in value or ".." in value:
        return False
    owner = value.split("/", 1)[0] if "/" in value else None
    return owner is None or not Path(owner).is_dir()


def encoder_source(value: str) -> str:
    """Where to load a base model from: an existing local folder, else a hub id.

    Fails at once on one line, before transformers is asked (whose hub lookups retry with
    backoff for about a minute): a path-like value that is not a folder, a value that is
    neither a folder nor shaped like a hub id, and, with HF_HUB_OFFLINE=1, a hub id that is
    not in the local hub cache.
    """
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise AdmeError(f"{value}: not a model folder (a file)")
        return str(path)
    if not looks_like_hub_id(value):
        raise AdmeError(f"{value}: model folder does not exist")
    if hub_offline() and not _in_hub_cache(value):
        raise AdmeError(
            f"{value}: no such model folder, and not in the hub cache "
            "(HF_HUB_OFFLINE=1: the hub is not asked)"
        )
    return value


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
