"""A model's identity: its folder name plus a hash of its weights.

Predictions are keyed by it, so two models' labels sit side by side and re-labelling with the
same weights is recognised as a no-op even if the folder is moved or renamed elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from adme.errors import AdmeError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def model_id(model_dir: str | Path) -> str:
    """Return `<folder name>@<first 12 hex of sha256 of the weights>` for a local model folder."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise AdmeError(f"{folder}: model folder does not exist")
    for name in WEIGHT_FILES:
        weights = folder / name
        if weights.is_file():
            digest = hashlib.sha256()
            with weights.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return f"{folder.resolve().name}@{digest.hexdigest()[:12]}"
    raise AdmeError(f"{folder}: no model weights ({' or '.join(WEIGHT_FILES)}) in the folder")
