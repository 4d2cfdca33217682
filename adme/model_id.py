"""A model's identity: its folder name plus a hash of its weights.

Predictions are keyed by it, so two models' labels sit side by side and re-labelling with the
same weights is recognised as a no-op, also after the folder is moved elsewhere (its name is
kept). Renaming the folder gives a new id: the name is part of it, so that a reader of the
predictions table can tell which model each row came from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from adme.errors import AdmeError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# save_pretrained splits large models into shards listed by an index file
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _hash_files(digest, files: list[Path]) -> None:
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def _shards(index: Path) -> list[Path]:
    try:
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AdmeError(f"{index}: not a readable weight index ({exc})") from exc
    shards = [index.parent / name for name in names]
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise AdmeError(f"{index}: weight shard(s) missing from the folder: {', '.join(missing)}")
    return shards


def _named(folder: Path, names: tuple[str, ...]) -> list[Path]:
    files = [folder / name for name in names]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise AdmeError(f"{folder}: model file(s) missing from the folder: {', '.join(missing)}")
    return files


def _hf_weights(folder: Path) -> list[Path]:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for name in SHARD_INDEXES:
        if (folder / name).is_file():
            return [folder / name, *_shards(folder / name)]
    raise AdmeError(f"{folder}: no model weights ({' or '.join(WEIGHT_FILES)}) in the folder")


def model_id(model_dir: str | Path, weight_files: tuple[str, ...] | None = None) -> str:
    """Return `<folder name>@<first 12 hex of sha256 of the weights>` for a local model folder.

    `weight_files` names the files that hold a non-Hugging-Face model (e.g. TF-IDF's), hashed
    in that order. Otherwise a sharded checkpoint is hashed as its index followed by its shards,
    in name order.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise AdmeError(f"{folder}: model folder does not exist")
    files = _named(folder, weight_files) if weight_files else _hf_weights(folder)
    digest = hashlib.sha256()
    _hash_files(digest, files)
    return f"{folder.resolve().name}@{digest.hexdigest()[:12]}"
