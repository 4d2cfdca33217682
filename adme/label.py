"""`adme label`: classify pharmacokinetics paragraphs and store one prediction per model.

Store new labels with fetch's own code, then classify every paragraph that has no prediction
for this exact model yet, writing in chunks that each commit on their own so an interrupted run
resumes where it stopped. The classifying itself is adme/inference.py, the one path that train's
scoring, `adme serve` and `adme evaluate` use too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from adme import store
from adme.batches import length_sorted_batches
from adme.errors import AdmeError
from adme.inference import (
    InferenceOptions,
    Prediction,
    approximate_lengths,
    load_model,
    predictions,
)
from adme.progress import step_bar
from adme.rules import BINARY_CLASSES, FIVE_CLASSES
from adme.wording import count

WRITE_EVERY = 4096  # predictions per committed chunk: small enough to lose little on a kill
READ_EVERY = 32768  # paragraphs read from the database at a time: bounds memory on big runs


@dataclass
class LabelSummary:
    """What one `adme label` run did."""

    model_id: str
    documents: int
    paragraphs: int
    per_class: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rejects: int = 0
    notes: list[str] = field(default_factory=list)
    precision: str | None = None  # what the model ran in (adme.precision), None for TF-IDF

    @property
    def paragraphs_per_second(self) -> float:
        """Classification throughput of this run (0 when nothing needed labelling)."""
        return self.paragraphs / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the CLI: documents, paragraphs, labels per class, speed (and the
        reduced precision the model ran in, if it did)."""
        rejected = f", {self.rejects} rejected" if self.rejects else ""
        line = (
            f"{self.model_id}: {count(self.documents, 'document')}{rejected}, "
            f"{count(self.paragraphs, 'paragraph')} labelled"
        )
        if not self.paragraphs:  # no class counts and no speed to report
            return line
        classes = ", ".join(f"{name} {n}" for name, n in sorted(self.per_class.items()))
        reduced = f" in {self.precision}" if self.precision in ("int8", "bf16") else ""
        return f"{line} ({classes}) at {self.paragraphs_per_second:.1f} paragraphs/s{reduced}"


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
    max_length: int | None = None,
    device: str = "auto",
    relabel: bool = False,
    workers: int | None = None,
    precision: str = "auto",
    progress: bool = True,
) -> LabelSummary:
    """Store the labels at `path` (if given) and classify their paragraphs into `predictions`.

    With a path, its documents are stored by fetch's own code, then every paragraph of every
    document the input held is classified; without one, every stored paragraph never predicted
    with this model is. The model and the database are checked before anything is written, so
    a wrong model or a locked file stores nothing. Each chunk of predictions commits on its own:
    an interrupted run keeps what it wrote and the next run does only the rest. `max_length`
    None takes the model folder's own (adme.json); a different value is said in `notes`.
    `precision` is adme.inference's (auto: reduced precision on the CPU, full on a GPU).
    """
    if path is None and not Path(db_path).exists():
        # without PATH there is nothing to store: a mistyped --db must not become a new, empty
        # database and a run that "labelled 0 paragraphs"
        raise AdmeError(f"{db_path}: database does not exist (give a PATH of labels, or the --db)")
    classifier = load_model(
        model_dir, InferenceOptions(device, batch_size, max_length, workers, precision)
    )
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
        per_class = _label_paragraphs(con, classifier, wanted, relabel, progress)
        if documents is None:
            documents = _documents_of(wanted)
    return LabelSummary(
        model_id=classifier.model_id,
        documents=len(documents),
        paragraphs=sum(per_class.values()),
        per_class=dict(per_class),
        seconds=time.perf_counter() - started,
        rejects=rejects,
        notes=list(classifier.notes),
        precision=getattr(classifier, "precision", None),
    )


def database_class_sets(con: duckdb.DuckDBPyConnection) -> list[tuple[str, ...]]:
    """Class sets a model may predict for this database: five, binary, and each split's."""
    sets = [FIVE_CLASSES, BINARY_CLASSES]
    for (classes,) in con.execute("SELECT classes FROM splits ORDER BY split_name").fetchall():
        if tuple(classes) not in sets:
            sets.append(tuple(classes))
    return sets


def check_classes(classifier, class_sets: Sequence[Sequence[str]], model_dir: str | Path) -> None:
    """Refuse a model whose labels are not one of the database's class sets.

    A model saved without id2label predicts LABEL_0, LABEL_1, ...; storing those would fill
    `predictions` with labels no report or comparison understands.
    """
    labels = set(classifier.classes)
    if any(labels == set(classes) for classes in class_sets):
        return
    known = " or ".join(", ".join(classes) for classes in class_sets)
    raise AdmeError(
        f"{model_dir}: model labels ({', '.join(classifier.classes)}) are not the database's "
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
    classifier,
    paragraph_ids: Sequence[str],
    relabel: bool,
    progress: bool,
) -> Counter:
    per_class: Counter = Counter()
    bar = step_bar(progress and bool(paragraph_ids))
    with bar:
        task = bar.add_task(f"labelling with {classifier.model_id}", total=len(paragraph_ids))
        for start in range(0, len(paragraph_ids), READ_EVERY):
            ids = paragraph_ids[start : start + READ_EVERY]
            texts = _paragraph_texts(con, ids)
            # longest first over the whole read, then committed chunk by chunk: batches pad
            # little and a kill loses at most one chunk
            order = length_sorted_batches(approximate_lengths(texts), WRITE_EVERY)
            for chunk in order:
                probs = classifier.predict_proba(
                    [texts[i] for i in chunk], on_batch=lambda n: bar.advance(task, n)
                )
                found = predictions(probs, classifier.classes)
                rows = list(zip([ids[i] for i in chunk], found, strict=True))
                per_class += write_predictions(con, classifier.model_id, rows, relabel)
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
