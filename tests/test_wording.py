"""Counts read as English in every line adme prints: "1 document", "wrote 1 row", no "(s)"."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import adme
from adme.cli import app
from adme.label import LabelSummary
from adme.wording import count, plural


@pytest.mark.parametrize(
    ("n", "noun", "text"),
    [
        (1, "document", "1 document"),
        (0, "document", "0 documents"),
        (2, "row", "2 rows"),
        (1, "class", "1 class"),
        (5, "class", "5 classes"),
        (1, "try", "1 try"),
        (3, "try", "3 tries"),
        (2, "stored document", "2 stored documents"),
        (1, "duplicate paragraph", "1 duplicate paragraph"),
    ],
)
def test_count_makes_the_noun_agree(n, noun, text):
    assert count(n, noun) == text


def test_plural_of_a_phrase_changes_its_last_word():
    assert plural("distinct paragraphs text") == "distinct paragraphs texts"
    assert plural("copy") == "copies"


def test_label_line_of_one_document_and_nothing_to_label():
    """Nothing labelled: no empty class list and no speed of nothing."""
    assert LabelSummary("m1", 1, 0).line() == "m1: 1 document, 0 paragraphs labelled"


def test_label_line_with_paragraphs_keeps_classes_and_speed():
    line = LabelSummary("m1", 2, 1, {"other": 1}, seconds=0.5).line()
    assert line == "m1: 2 documents, 1 paragraph labelled (other 1) at 2.0 paragraphs/s"


def test_writing_one_row_says_one_row(tmp_path):
    db = tmp_path / "a.duckdb"
    duckdb.connect(str(db)).close()
    out = tmp_path / "one.csv"
    args = ["sql", "SELECT 1 AS x", "--format", "csv", "-o", str(out), "--db", str(db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 1 row of query to {out}\n"


def test_no_source_line_counts_with_a_parenthesised_plural():
    """`{n} paragraph(s)` and `{n} seeds` in an f-string are what count() replaces."""
    offenders = []
    pattern = re.compile(r"\}\s+[a-z]+\(s\)")
    for path in sorted(Path(adme.__file__).parent.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
