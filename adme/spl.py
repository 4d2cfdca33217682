"""SPL XML -> one document and the paragraphs of its Pharmacokinetics (LOINC 43682-4) section.

Structure only: which paragraph sits under which title or inline heading. What a heading means
(the ADME class) is decided in rules.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PK_CODE = "43682-4"


@dataclass(frozen=True)
class Paragraph:
    """One pharmacokinetics paragraph, list or table, as stored for the model."""

    ordinal: int
    section_path: str  # titles from 43682-4 down, joined by " > "
    heading: str | None  # title or inline heading the rule used
    text: str  # without that heading, whitespace-normalised
    kind: str  # prose | list | table
    rule_label: str | None
    rule_reason: str | None


@dataclass(frozen=True)
class Document:
    """One SPL document version and its pharmacokinetics paragraphs."""

    document_id: str
    set_id: str
    version: int
    effective_date: dt.date | None
    title: str | None
    doc_type: str | None
    source: str
    sha256: str
    pk_found: str | None  # how 43682-4 was found; None when the label has none
    paragraphs: tuple[Paragraph, ...]


def parse_spl(data: bytes, source: str) -> Document:
    """Parse one SPL XML document; raise SplError naming `source` when it is not usable SPL."""
    raise NotImplementedError  # implemented by the extraction work
