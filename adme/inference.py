"""ONE inference path: a model folder -> a classifier with `predict_proba(texts)`.

`load_model` reads the folder's adme.json (adme/model_folder.py), picks the loader of its kind
and applies the options the command line gave (each override of what the folder says is
recorded in `notes`, which the commands print). Train's test-part scoring, `adme label`,
`adme serve` and `adme evaluate` all classify through the objects made here, so a score
describes exactly what `label` stores.

A classifier has `classes` (names in output order), `model_id` (what predictions are stored
under), `info` (its ModelInfo), `notes`, and `predict_proba(texts, on_batch=None)` -> a
(len(texts), len(classes)) float array in input order.

BERT speed comes from five things: paragraphs sorted by length so each batch pads little,
dynamic padding to the longest paragraph of the batch, optional tokenisation in DataLoader
workers so it overlaps the forward pass, `torch.inference_mode` with autocast and pinned copies
on CUDA, and on the CPU a reduced precision chosen where the model is loaded (`precision`:
bf16 autocast where the CPU multiplies bf16 natively, dynamic int8 Linear layers elsewhere;
`full` keeps the exact fp32 path). benchmarks/RESULTS.md has the measurements behind it.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from adme.batches import length_sorted_batches
from adme.device import autocast, pin_memory, resolve_device, to_device
from adme.errors import AdmeError, first_line
from adme.model_folder import DEFAULT_MAX_LENGTH, ModelInfo, loader_for, read_info
from adme.model_id import model_id as weights_model_id
from adme.precision import check_precision, resolve_precision

_PRE_TOKENS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class InferenceOptions:
    """How to run a model: device, batch size, tokeniser workers, and the token limit.

    `max_length` None means what the folder's adme.json says (128 for folders without one).
    `precision` is one of PRECISIONS (see resolve_precision); models without weights to
    reduce (TF-IDF) ignore it.
    """

    device: str = "auto"
    batch_size: int = 64
    max_length: int | None = None
    workers: int | None = None
    precision: str = "auto"


@dataclass(frozen=True)
class Prediction:
    """One paragraph's predicted class, its probability, and every class's probability."""

    label: str
    confidence: float
    probs: dict[str, float]


def load_model(model_dir: str | Path, options: InferenceOptions | None = None):
    """Load any adme model folder for inference (the kind comes from its adme.json).

    A missing folder, a folder that is not a model, an unknown kind or a newer format is a
    one-line AdmeError, raised before anything is written anywhere.
    """
    options = options or InferenceOptions()
    if options.batch_size < 1:
        raise AdmeError(f"batch size {options.batch_size}: must be at least 1")
    check_precision(options.precision)  # TF-IDF ignores it, but a wrong value is still wrong
    info = read_info(model_dir)
    classifier = loader_for(info.kind)(Path(model_dir), info, options)
    notes = [info.note] if info.note else []
    overridden = info.max_length not in (None, options.max_length)
    if options.max_length is not None and overridden and info.kind != "tfidf":
        notes.append(
            f"--max-length {options.max_length} overrides the model's {info.max_length} "
            f"(from {Path(model_dir) / 'adme.json'})"
        )
    classifier.notes = notes + list(getattr(classifier, "notes", []))
    return classifier


def predictions(probs: np.ndarray, classes: Sequence[str]) -> list[Prediction]:
    """Rows of class probabilities -> Prediction objects (argmax, its probability, all)."""
    best = probs.argmax(axis=1).tolist() if len(probs) else []
    rows = probs.tolist()
    return [
        Prediction(classes[b], row[b], dict(zip(classes, row, strict=True)))
        for b, row in zip(best, rows, strict=True)
    ]


def predict_texts(classifier, texts: Sequence[str]) -> list[Prediction]:
    """Classify texts with any loaded classifier; results in input order."""
    return predictions(classifier.predict_proba(texts), classifier.classes)


def identify(model_dir: str | Path) -> str:
    """The model id of a folder (what its predictions are stored under), without loading it."""
    info = read_info(model_dir)
    if info.kind == "bert":
        return weights_model_id(model_dir)
    return load_model(model_dir, InferenceOptions(device="cpu")).model_id


# --- BERT (any Hugging Face sequence classifier) --------------------------------------------


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with the per-token Linear layers of its encoder made dynamic int8 (CPU only).

    Weights become int8 per tensor and activations are quantised per batch on the fly: that
    is where the arithmetic is. The pooler and the classification head (once per paragraph,
    a negligible cost) stay fp32, as do embeddings, layer norms, attention and the softmax:
    a head's rounding error lands directly on the logits.
    """
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    base = model.base_model_prefix
    spec = {
        f"{base}.{name}": default_dynamic_qconfig
        for name, module in model.base_model.named_modules()
        if isinstance(module, torch.nn.Linear) and "pooler" not in name.split(".")
    }
    with warnings.catch_warnings():
        # torch 2.10+ says eager-mode quantisation moves to torchao; it works and needs no
        # further package
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def approximate_lengths(texts: Sequence[str]) -> list[int]:
    """Cheap stand-in for token counts, used to sort before tokenising.

    Words and punctuation marks are what a BERT pre-tokenizer splits on, and word pieces
    follow their count closely; counting them costs a small fraction of tokenising, so the
    tokenisation itself runs only once, overlapped with the model when workers are used.
    """
    return [len(_PRE_TOKENS.findall(text)) for text in texts]


class _TokenizedBatches(Dataset):
    """Item i is batch i, tokenised with padding to its own longest paragraph."""

    def __init__(self, texts: Sequence[str], batches: list[list[int]], tokenizer, max_length: int):
        self.texts = texts
        self.batches = batches
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        indices = self.batches[i]
        encoded = self.tokenizer(
            [self.texts[j] for j in indices],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = dict(encoded)
        batch["index"] = torch.tensor(indices, dtype=torch.long)
        return batch


@dataclass
class BertClassifier:
    """A Hugging Face sequence classifier with its tokenizer, ready for batched inference."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    classes: tuple[str, ...]
    model_id: str
    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int = 64
    workers: int = 0
    info: ModelInfo | None = None
    notes: list[str] = field(default_factory=list)
    precision: str = "full"  # resolved (resolve_precision); int8 is already in `model`
    kind = "bert"

    @property
    def token_limit(self) -> int:
        """max_length, capped by the tokenizer's and the position table's limits.

        A limit beyond the model's position table would crash inside the forward pass.
        """
        limits = [self.max_length, self.tokenizer.model_max_length]
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions:
            limits.append(positions)
        return min(limits)

    def _loader(self, texts: Sequence[str]) -> DataLoader:
        batches = length_sorted_batches(approximate_lengths(texts), self.batch_size)
        dataset = _TokenizedBatches(texts, batches, self.tokenizer, self.token_limit)
        if self.workers > 0:
            # forked workers tokenise one batch each; the Rust pool inside each would oversubscribe
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        return DataLoader(
            dataset,
            batch_size=None,  # items are already batches
            shuffle=False,
            num_workers=self.workers,
            pin_memory=pin_memory(self.device),
            prefetch_factor=4 if self.workers > 0 else None,
        )

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
        return autocast(self.device)

    def predict_proba(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Class probabilities, (len(texts), len(classes)) float64, rows in input order."""
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float64)
        if not texts:
            return out
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for batch in self._loader(texts):
                    indices = batch.pop("index").numpy()
                    inputs = to_device(batch, self.device)
                    with self._autocast():
                        logits = self.model(**inputs).logits
                    out[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                    if on_batch:
                        on_batch(len(indices))
        finally:
            self.model.train(was_training)
        return out


def default_workers(device: torch.device) -> int:
    """Tokeniser processes: 2 on a GPU (they keep it fed), 0 on the CPU.

    On a CPU the tokeniser processes compete with the model for the same cores (measured:
    0 workers was faster on 2 cores).
    """
    return 2 if device.type == "cuda" else 0


def load_bert(folder: Path, info: ModelInfo, options: InferenceOptions) -> BertClassifier:
    """The `bert` loader of adme.model_folder.KINDS: a Hugging Face classifier folder.

    Refuses, with a one-line AdmeError, a folder with no config or weights, or one holding an
    encoder / masked-LM without a trained classification head: such a folder would load with a
    randomly initialised head and label everything at random.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    identity = weights_model_id(folder)  # also checks the folder and its weights exist
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise AdmeError(
            f"{folder}: not a Hugging Face model folder (no usable config.json)"
        ) from exc
    architectures = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        kind = ", ".join(architectures) or "no architecture recorded"
        raise AdmeError(f"{folder}: not a sequence classifier ({kind}); train one with adme train")
    try:
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, output_loading_info=True
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise AdmeError(f"{folder}: cannot load model or tokenizer: {first_line(exc)}") from exc
    if loading.get("missing_keys"):
        missing = ", ".join(sorted(loading["missing_keys"])[:3])
        raise AdmeError(f"{folder}: classifier weights missing from the folder ({missing})")
    id2label = {int(i): str(name) for i, name in config.id2label.items()}
    classes = tuple(id2label[i] for i in range(len(id2label)))
    if info.classes and tuple(info.classes) != classes:
        raise AdmeError(
            f"{folder}: adme.json classes {list(info.classes)} differ from the model's "
            f"config.json labels {list(classes)}"
        )
    target = resolve_device(options.device)
    precision = resolve_precision(options.precision, target)
    model.to(target).eval()
    if precision == "int8":
        model = quantize_int8(model)
    max_length = options.max_length or info.max_length or DEFAULT_MAX_LENGTH
    workers = default_workers(target) if options.workers is None else options.workers
    return BertClassifier(
        model,
        tokenizer,
        target,
        classes,
        identity,
        max_length=max_length,
        batch_size=options.batch_size,
        workers=workers,
        info=info,
        precision=precision,
    )
