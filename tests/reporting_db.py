"""A small but complete adme database for the report, plot and serve tests.

Documents and paragraphs go in through adme.store.write_documents (the code fetch uses);
runs, metrics, confusion and predictions through plain SQL, as `adme train` and `adme label`
would leave them. Every number the tests check is derived from these rows, not hard-coded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from adme import store
from adme.spl import Document, Paragraph

CLASSES = ("absorption", "distribution", "metabolism", "excretion", "other")
MODEL_A = "tiny-a@0123456789ab"
MODEL_B = "tiny-b@ba9876543210"

# (set_id, version, title, [(section_path, heading, text, rule_label)])
LABELS = [
    (
        "set-atorva",
        1,
        "ATORVASTATIN tablets (old)",
        [
            ("Pharmacokinetics > Absorption", "Absorption", "Old absorption text.", "absorption"),
        ],
    ),
    (
        "set-atorva",
        2,
        "ATORVASTATIN tablets",
        [
            ("Pharmacokinetics > Absorption", "Absorption", "Rapidly absorbed.", "absorption"),
            ("Pharmacokinetics > Distribution", "Distribution", "98% bound.", "distribution"),
            ("Pharmacokinetics > Metabolism", "Metabolism", "Metabolised by CYP3A4.", "metabolism"),
            ("Pharmacokinetics > Excretion", "Excretion", "Eliminated in bile.", "excretion"),
            ("Pharmacokinetics > Specific Populations", "Geriatric", "Higher in elderly.", "other"),
            ("Pharmacokinetics", None, "A paragraph with no heading at all.", None),
        ],
    ),
    (
        "set-metformin",
        1,
        "METFORMIN tablets",
        [
            ("Pharmacokinetics > Absorption", "Absorption", "Bioavailable: 55%.", "absorption"),
            ("Pharmacokinetics > Absorption", "Absorption", "Food lowers it.", "absorption"),
            ("Pharmacokinetics > Elimination", "Elimination", "Renal, unchanged.", "excretion"),
            ("Pharmacokinetics", None, "Metformin is not metabolised and binds no protein.", None),
            (
                "Pharmacokinetics > Metabolism and Excretion",
                "Metabolism and Excretion",
                "Ambiguous heading paragraph.",
                None,
            ),
        ],
    ),
    ("set-nopk", 1, "A label without pharmacokinetics", []),
]


def documents() -> list[Document]:
    """The hand-made documents above as adme Document objects."""
    docs = []
    for set_id, version, title, rows in LABELS:
        document_id = f"{set_id}-v{version}"
        paragraphs = tuple(
            Paragraph(
                ordinal=i,
                section_path=path,
                heading=heading,
                text=text,
                kind="prose",
                rule_label=label,
                rule_reason=f"title {heading}" if label else None,
            )
            for i, (path, heading, text, label) in enumerate(rows)
        )
        docs.append(
            Document(
                document_id=document_id,
                set_id=set_id,
                version=version,
                effective_date=dt.date(2020 + version, 1, 1),
                title=title,
                doc_type="34391-3",
                source=f"{document_id}.xml",
                sha256=f"sha-{document_id}",
                pk_found="43682-4" if rows else None,
                paragraphs=paragraphs,
            )
        )
    return docs


def _softmax_probs(label: str, confidence: float) -> dict[str, float]:
    rest = (1.0 - confidence) / (len(CLASSES) - 1)
    return {c: (confidence if c == label else rest) for c in CLASSES}


def model_predictions(con) -> list[tuple[str, str, str, float]]:
    """(paragraph_id, model_id, label, confidence): model A copies the rule except on a few
    paragraphs; model B disagrees with A on metabolism; both label the unlabelled ones."""
    rows = con.execute(
        "SELECT paragraph_id, rule_label FROM paragraphs ORDER BY paragraph_id"
    ).fetchall()
    out = []
    for i, (pid, rule) in enumerate(rows):
        label_a = rule or ("metabolism" if i % 2 else "distribution")
        confidence_a = 0.9 if rule else 0.3 + 0.1 * (i % 5)
        if rule == "excretion":
            label_a, confidence_a = "metabolism", 0.8  # a confident disagreement
        if rule == "other":
            label_a, confidence_a = "absorption", 0.55  # a less confident one
        label_b = "other" if label_a == "metabolism" else label_a
        out.append((pid, MODEL_A, label_a, confidence_a))
        out.append((pid, MODEL_B, label_b, 0.7))
    return out


def write_predictions(con, rows) -> None:
    """Insert prediction rows (with a full probability map each) as `adme label` stores them."""
    con.executemany(
        "INSERT INTO predictions (paragraph_id, model_id, label, confidence, probs) "
        "VALUES (?, ?, ?, ?, MAP(?, ?))",
        [
            (pid, mid, label, conf, list(CLASSES), list(_softmax_probs(label, conf).values()))
            for pid, mid, label, conf in rows
        ],
    )


# (run_id, split, method, seed, test F1 of absorption, distribution, metabolism, excretion, other)
RUNS = [
    ("run-v7", "natural", "vanilla", 7, (0.9, 0.8, 0.7, 0.6, 0.95)),
    ("run-v42", "natural", "vanilla", 42, (0.8, 0.6, 0.7, 0.4, 0.93)),
    ("run-t7", "natural", "two-stage", 7, (0.95, 0.85, 0.8, 0.7, 0.96)),
    ("run-t42", "natural", "two-stage", 42, (0.93, 0.87, 0.9, 0.8, 0.97)),
    ("run-r7", "ratio-0.1", "vanilla", 7, (0.5, 0.4, 0.3, 0.2, 0.9)),
]


def write_runs(con) -> None:
    """Insert runs with test metrics (per class, micro, macro) and a confusion matrix each."""
    for run_id, split, method, seed, scores in RUNS:
        f1s = dict(zip(CLASSES, scores, strict=True))
        con.execute(
            "INSERT INTO runs (run_id, split, method, model, params, seed, started, finished, "
            "output) VALUES (?, ?, ?, 'models/tiny', '{}', ?, now(), now(), ?)",
            [run_id, split, method, seed, f"models/{run_id}"],
        )
        for cls, f1 in f1s.items():
            con.execute(
                "INSERT INTO metrics VALUES (?, 'test', ?, ?, ?, ?, 10)", [run_id, cls, f1, f1, f1]
            )
        macro = sum(f1s.values()) / len(f1s)
        con.execute(
            "INSERT INTO metrics VALUES (?, 'test', 'macro', ?, ?, ?, 50)",
            [run_id, macro, macro, macro],
        )
        con.execute(
            "INSERT INTO metrics VALUES (?, 'test', 'micro', ?, ?, ?, 50)",
            [run_id, macro + 0.02, macro + 0.02, macro + 0.02],
        )
        con.execute(
            "INSERT INTO metrics VALUES (?, 'validation', 'micro', 0.1, 0.1, 0.1, 5)", [run_id]
        )
        for i, true in enumerate(CLASSES):
            for j, pred in enumerate(CLASSES):
                n = 8 + seed % 3 if i == j else (i + j) % 2
                con.execute(
                    "INSERT INTO confusion VALUES (?, 'test', ?, ?, ?)", [run_id, true, pred, n]
                )


def write_split(con, name: str = "natural") -> None:
    """A stored split over the labelled paragraphs: every third one in test, the rest train."""
    rows = con.execute(
        "SELECT paragraph_id, rule_label FROM paragraphs WHERE rule_label IS NOT NULL "
        "ORDER BY paragraph_id"
    ).fetchall()
    con.execute(
        "INSERT INTO splits (split_name, params, classes, folded) VALUES (?, '{}', ?, 0)",
        [name, list(CLASSES)],
    )
    con.executemany(
        "INSERT INTO split_rows VALUES (?, ?, ?, ?)",
        [
            (name, pid, "test" if i % 3 == 0 else "train", label)
            for i, (pid, label) in enumerate(rows)
        ],
    )


def build(db_path: Path, *, predictions: bool = True, runs: bool = True) -> Path:
    """Create the database at DB_PATH with documents, paragraphs and (optionally) the rest."""
    con = store.connect(db_path)
    try:
        store.write_documents(con, documents())
        if predictions:
            write_predictions(con, model_predictions(con))
        if runs:
            write_runs(con)
            write_split(con)
    finally:
        con.close()
    return db_path


def add_unlabelled_document(db_path: Path, name: str, title: str, texts: tuple[str, ...]) -> None:
    """One more label (set id `set-NAME`) whose paragraphs have no heading, so no rule label."""
    paragraphs = tuple(
        Paragraph(
            ordinal=i,
            section_path="Pharmacokinetics",
            heading=None,
            text=text,
            kind="prose",
            rule_label=None,
            rule_reason=None,
        )
        for i, text in enumerate(texts)
    )
    document = Document(
        document_id=f"set-{name}-v1",
        set_id=f"set-{name}",
        version=1,
        effective_date=dt.date(2024, 1, 1),
        title=title,
        doc_type="34391-3",
        source=f"{name}.xml",
        sha256=f"sha-{name}",
        pk_found="43682-4",
        paragraphs=paragraphs,
    )
    con = store.connect(db_path)
    try:
        store.write_documents(con, [document])
    finally:
        con.close()


def table_rows(db_path: Path, table: str) -> list[tuple]:
    """Every row of TABLE in a stable order, to show a failed command changed nothing."""
    con = store.connect(db_path, read_only=True)
    try:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        con.close()
