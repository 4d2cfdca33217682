"""Batched inference: classify pharmacokinetics paragraphs and store one prediction per model.

`load_classifier` + `predict_texts` are the reusable core (also used by `adme serve`);
`label` is `adme label`: store new labels with fetch's own code, then classify every paragraph
that has no prediction for this exact model yet, writing in chunks that each commit on their own
so an interrupted run resumes where it stopped.

Speed comes from four things: paragraphs sorted by length so each batch pads little, dynamic
padding to the longest paragraph of the batch, tokenisation in DataLoader workers so it overlaps
the forward pass, and `torch.inference_mode` with autocast and pinned copies on CUDA.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, Dataset

from adme import store
from adme.batches import length_sorted_batches
from adme.device import autocast, pin_memory, resolve_device, to_device
from adme.errors import AdmeError
from adme.model_id import model_id as weights_model_id
from adme.progress import step_bar

FIVE_CLASSES = ("absorption", "distribution", "metabolism", "excretion", "other")
BINARY_CLASSES = ("adme", "other")
WRITE_EVERY = 4096  # predictions per committed chunk: small enough to lose little on a kill
READ_EVERY = 32768  # paragraphs read from the database at a time: bounds memory on big runs
_PRE_TOKENS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Classifier:
    """A sequence classifier ready for inference, with what identifies it."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    id2label: dict[int, str]
    model_id: str

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in the model's output order."""
        return tuple(self.id2label[i] for i in range(len(self.id2label)))


@dataclass(frozen=True)
class Prediction:
    """One paragraph's predicted class, its probability, and every class's probability."""

    label: str
    confidence: float
    probs: dict[str, float]


@dataclass
class LabelSummary:
    """What one `adme label` run did."""

    model_id: str
    documents: int
    paragraphs: int
    per_class: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rejects: int = 0

    @property
    def paragraphs_per_second(self) -> float:
        """Classification throughput of this run (0 when nothing needed labelling)."""
        return self.paragraphs / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the CLI: documents, paragraphs, labels per class, speed."""
        classes = ", ".join(f"{name} {n}" for name, n in sorted(self.per_class.items()))
        rejected = f", {self.rejects} rejected" if self.rejects else ""
        return (
            f"{self.model_id}: {self.documents} documents{rejected}, "
            f"{self.paragraphs} paragraphs labelled ({classes or 'none'}) "
            f"at {self.paragraphs_per_second:.1f} paragraphs/s"
        )


# --- loading -------------------------------------------------------------------------------


def load_classifier(model_dir: str | Path, device: str = "auto") -> Classifier:
    """Load a local Hugging Face sequence-classification folder for inference.

    Refuses, with a one-line AdmeError, a folder that does not exist, has no config or weights,
    or holds an encoder / masked-LM without a trained classification head: such a folder would
    load with a randomly initialised head and label everything at random.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(model_dir)
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
        model, info = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, output_loading_info=True
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise AdmeError(f"{folder}: cannot load model or tokenizer: {_first_line(exc)}") from exc
    if info.get("missing_keys"):
        missing = ", ".join(sorted(info["missing_keys"])[:3])
        raise AdmeError(f"{folder}: classifier weights missing from the folder ({missing})")
    target = resolve_device(device)
    model.to(target).eval()
    id2label = {int(i): str(name) for i, name in config.id2label.items()}
    return Classifier(model, tokenizer, target, id2label, identity)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- batching ------------------------------------------------------------------------------


def approximate_lengths(texts: Sequence[str]) -> list[int]:
    """Cheap stand-in for token counts, used to sort before tokenising.

    Words and punctuation marks are what a BERT pre-tokenizer splits on, and word pieces
    follow their count closely; counting them costs a small fraction of tokenising, so the
    tokenisation itself runs only once, in the DataLoader workers, overlapped with the model.
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


def _batch_loader(
    classifier: Classifier, texts: Sequence[str], batch_size: int, max_length: int, workers: int
) -> DataLoader:
    batches = length_sorted_batches(approximate_lengths(texts), batch_size)
    dataset = _TokenizedBatches(texts, batches, classifier.tokenizer, max_length)
    if workers > 0:
        # forked workers tokenise one batch each; the Rust pool inside each would oversubscribe
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return DataLoader(
        dataset,
        batch_size=None,  # items are already batches
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory(classifier.device),
        prefetch_factor=4 if workers > 0 else None,
    )


# --- prediction ----------------------------------------------------------------------------


def iter_batch_predictions(
    classifier: Classifier,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    workers: int = 0,
) -> Iterator[tuple[list[int], list[Prediction]]]:
    """Yield (input indices, predictions) batch by batch, in length-sorted order.

    The caller can store each batch as it comes; `predict_texts` puts them back in input order.
    """
    if batch_size < 1:
        raise AdmeError(f"batch size {batch_size}: must be at least 1")
    if not texts:
        return
    labels = classifier.labels
    loader = _batch_loader(
        classifier, texts, batch_size, _token_limit(classifier, max_length), workers
    )
    with torch.inference_mode():
        for batch in loader:
            indices = batch.pop("index").tolist()
            inputs = to_device(batch, classifier.device)
            with autocast(classifier.device):
                logits = classifier.model(**inputs).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            yield indices, _predictions(probs, labels)


def _token_limit(classifier: Classifier, max_length: int) -> int:
    # a --max-length beyond the model's position table would crash inside the forward pass
    limits = [max_length, classifier.tokenizer.model_max_length]
    positions = getattr(classifier.model.config, "max_position_embeddings", None)
    if positions:
        limits.append(positions)
    return min(limits)


def _predictions(probs: torch.Tensor, labels: tuple[str, ...]) -> list[Prediction]:
    best = probs.argmax(dim=-1).tolist()
    rows = probs.tolist()
    return [
        Prediction(labels[b], row[b], dict(zip(labels, row, strict=True)))
        for b, row in zip(best, rows, strict=True)
    ]


def predict_texts(
    classifier: Classifier,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    workers: int = 0,
) -> list[Prediction]:
    """Classify texts in length-sorted, dynamically padded batches; results in input order."""
    results: list[Prediction | None] = [None] * len(texts)
    for indices, predictions in iter_batch_predictions(
        classifier, texts, batch_size, max_length, workers
    ):
        for index, prediction in zip(indices, predictions, strict=True):
            results[index] = prediction
    return results  # type: ignore[return-value]


# --- adme label ----------------------------------------------------------------------------

_PREDICTION_SCHEMA = pa.schema(
    [
        ("paragraph_id", pa.string()),
        ("model_id", pa.string()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("probs", pa.map_(pa.string(), pa.float64())),
    ]
)


def label(
    db_path: str | Path,
    model_dir: str | Path,
    path: str | Path | None = None,
    *,
    cache_dir: str | Path = "data/cache",
    batch_size: int = 64,
    max_length: int = 128,
    device: str = "auto",
    relabel: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> LabelSummary:
    """Store the labels at `path` (if given) and classify their paragraphs into `predictions`.

    With a path, its documents are stored by fetch's own code, then every paragraph of every
    document the input held is classified; without one, every stored paragraph never predicted
    with this model is. The model and the database are checked before anything is written, so
    a wrong model or a locked file stores nothing. Each chunk of predictions commits on its own:
    an interrupted run keeps what it wrote and the next run does only the rest.
    """
    if path is None and not Path(db_path).exists():
        # without PATH there is nothing to store: a mistyped --db must not become a new, empty
        # database and a run that "labelled 0 paragraphs"
        raise AdmeError(f"{db_path}: database does not exist (give a PATH of labels, or the --db)")
    classifier = load_classifier(model_dir, device)
    if workers is None:
        # On a CPU the tokeniser processes compete with the model for the same cores
        # (measured: 0 workers was faster on 2 cores); on a GPU they keep it fed.
        workers = 2 if classifier.device.type == "cuda" else 0
    with store.connect(db_path) as con:
        check_classes(classifier, database_class_sets(con), model_dir)
    documents: list[str] | None = None
    rejects = 0
    if path is not None:
        from adme.fetch import fetch_from_path

        fetched = fetch_from_path(db_path, path, cache_dir, progress)
        documents = list(fetched.document_ids)
        rejects = len(fetched.rejects)
    started = time.perf_counter()
    with store.connect(db_path) as con:
        wanted = paragraphs_to_label(con, classifier.model_id, documents, relabel)
        per_class = _label_paragraphs(
            con, classifier, wanted, relabel, batch_size, max_length, workers, progress
        )
        if documents is None:
            documents = _documents_of(wanted)
    return LabelSummary(
        model_id=classifier.model_id,
        documents=len(documents),
        paragraphs=sum(per_class.values()),
        per_class=dict(per_class),
        seconds=time.perf_counter() - started,
        rejects=rejects,
    )


def database_class_sets(con: duckdb.DuckDBPyConnection) -> list[tuple[str, ...]]:
    """Class sets a model may predict for this database: five, binary, and each split's."""
    sets = [FIVE_CLASSES, BINARY_CLASSES]
    for (classes,) in con.execute("SELECT classes FROM splits ORDER BY split_name").fetchall():
        if tuple(classes) not in sets:
            sets.append(tuple(classes))
    return sets


def check_classes(
    classifier: Classifier, class_sets: Sequence[Sequence[str]], model_dir: str | Path
) -> None:
    """Refuse a model whose labels are not one of the database's class sets.

    A model saved without id2label predicts LABEL_0, LABEL_1, ...; storing those would fill
    `predictions` with labels no report or comparison understands.
    """
    labels = set(classifier.labels)
    if any(labels == set(classes) for classes in class_sets):
        return
    known = " or ".join(", ".join(classes) for classes in class_sets)
    raise AdmeError(
        f"{model_dir}: model labels ({', '.join(classifier.labels)}) are not the database's "
        f"classes ({known})"
    )


def paragraphs_to_label(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    documents: Sequence[str] | None,
    relabel: bool,
) -> list[str]:
    """Ids of the paragraphs to classify: of `documents` (None: all), unpredicted unless relabel."""
    selected = pa.table({"document_id": pa.array(list(documents or []), pa.string())})
    con.register("selected_documents", selected)
    try:
        rows = con.execute(
            store.sql_text("queries/unpredicted_paragraphs"),
            {"model_id": model_id, "relabel": relabel, "all_documents": documents is None},
        ).fetchall()
    finally:
        con.unregister("selected_documents")
    return [paragraph_id for (paragraph_id,) in rows]


def _documents_of(paragraph_ids: Sequence[str]) -> list[str]:
    # paragraph ids are document_id || '/' || ordinal
    return sorted({pid.rsplit("/", 1)[0] for pid in paragraph_ids})


def _paragraph_texts(con: duckdb.DuckDBPyConnection, paragraph_ids: Sequence[str]) -> list[str]:
    con.register("wanted_paragraphs", pa.table({"paragraph_id": pa.array(paragraph_ids)}))
    try:
        rows = dict(con.execute(store.sql_text("queries/paragraph_texts")).fetchall())
    finally:
        con.unregister("wanted_paragraphs")
    return [rows[pid] for pid in paragraph_ids]


def _label_paragraphs(
    con: duckdb.DuckDBPyConnection,
    classifier: Classifier,
    paragraph_ids: Sequence[str],
    relabel: bool,
    batch_size: int,
    max_length: int,
    workers: int,
    progress: bool,
) -> Counter:
    per_class: Counter = Counter()
    bar = step_bar(progress and bool(paragraph_ids))
    with bar:
        task = bar.add_task(f"labelling with {classifier.model_id}", total=len(paragraph_ids))
        for start in range(0, len(paragraph_ids), READ_EVERY):
            ids = paragraph_ids[start : start + READ_EVERY]
            texts = _paragraph_texts(con, ids)
            pending: list[tuple[str, Prediction]] = []
            for indices, predictions in iter_batch_predictions(
                classifier, texts, batch_size, max_length, workers
            ):
                pending.extend((ids[i], p) for i, p in zip(indices, predictions, strict=True))
                if len(pending) >= WRITE_EVERY:
                    per_class += write_predictions(con, classifier.model_id, pending, relabel)
                    pending = []
                bar.advance(task, len(indices))
            per_class += write_predictions(con, classifier.model_id, pending, relabel)
    return per_class


def write_predictions(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    rows: Sequence[tuple[str, Prediction]],
    relabel: bool = False,
) -> Counter:
    """Store (paragraph_id, prediction) pairs in one transaction; return labels per class.

    Bulk: one Arrow table, one INSERT ... SELECT. Pairs already stored for this model are kept
    unless `relabel`, which replaces them in the same transaction (never a moment without them).
    """
    if not rows:
        return Counter()
    table = pa.Table.from_pylist(
        [
            {
                "paragraph_id": paragraph_id,
                "model_id": model_id,
                "label": p.label,
                "confidence": p.confidence,
                "probs": list(p.probs.items()),
            }
            for paragraph_id, p in rows
        ],
        schema=_PREDICTION_SCHEMA,
    )
    con.register("incoming_predictions", table)
    try:
        with store.transaction(con):
            if relabel:
                con.execute(store.sql_text("queries/delete_predictions"))
            con.execute(store.sql_text("queries/insert_predictions"))
    finally:
        con.unregister("incoming_predictions")
    return Counter(p.label for _, p in rows)
