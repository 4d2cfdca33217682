"""No words lost: stored paragraphs hold openFDA's pharmacokinetics text for the shipped sample.

tests/fixtures/openfda_sample.jsonl is openFDA's own converter output for the labels in data/.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from adme.coverage import compare, is_bare_heading, outermost_texts, stored_words, words
from adme.spl import Paragraph, parse_spl
from tests.conftest import NEW_SPL, ROOT, SAMPLE_SPL

SAMPLE = ROOT / "tests" / "fixtures" / "openfda_sample.jsonl"


def _label_path(name: str) -> Path | None:
    for folder in (SAMPLE_SPL, NEW_SPL):
        if (folder / name).is_file():
            return folder / name
    return None


def _entries() -> list[dict]:
    entries = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [entry for entry in entries if _label_path(entry["file"])]


@pytest.fixture(scope="module")
def compared():
    """(entry, parsed document) for every sample entry whose label is shipped."""
    pairs = []
    for entry in _entries():
        path = _label_path(entry["file"])
        pairs.append((entry, parse_spl(path.read_bytes(), path.name)))
    assert len(pairs) >= 30
    return pairs


def test_stored_paragraphs_hold_openfda_words_and_add_almost_nothing(compared):
    reference = recalled = stored = extra = 0
    for entry, document in compared:
        if is_bare_heading(entry["pharmacokinetics"]):
            continue
        cover = compare(entry["pharmacokinetics"], stored_words(document.paragraphs))
        assert cover.recall >= 0.9, entry["file"]
        reference += cover.reference
        recalled += cover.recalled
        stored += cover.stored
        extra += cover.extra
    assert recalled / reference >= 0.98
    assert extra / stored <= 0.02


def test_bare_heading_labels_keep_what_openfda_drops(compared):
    bare = [(e, d) for e, d in compared if is_bare_heading(e["pharmacokinetics"])]
    assert bare, "the sample should hold a label with a bare 43682-4"
    for _, document in bare:
        assert "bare" in document.pk_found
        assert sum(stored_words(document.paragraphs).values()) > 100


def _paragraph(text: str, path: str = "Pharmacokinetics", heading: str | None = None):
    return Paragraph(0, path, heading, text, "prose", None, None)


def test_words_drop_section_numbers_and_case():
    expected = ["pharmacokinetics", "c", "max", "5", "1", "mg"]
    assert words("12.3 Pharmacokinetics: C-max 5.1 mg") == expected
    assert words("12.3. Pharmacokinetics") == ["pharmacokinetics"]


def test_path_titles_count_once_and_headings_not_twice():
    paragraphs = [
        _paragraph("one two", "Pharmacokinetics > Absorption", "Absorption"),
        _paragraph("three", "Pharmacokinetics > Absorption", "Food Effect:"),
    ]
    assert stored_words(paragraphs) == Counter(
        {"pharmacokinetics": 1, "absorption": 1, "one": 1, "two": 1, "three": 1, "food": 1,
         "effect": 1}
    )  # fmt: skip


def test_split_subscripts_in_openfda_match_joined_words():
    cover = compare(
        ["Peak C max and T max were 2 h"], Counter(words("Peak Cmax and Tmax were 2 h"))
    )
    assert (cover.recalled, cover.reference, cover.extra) == (9, 9, 0)


def test_missing_and_invented_words_are_counted():
    cover = compare(["alpha beta gamma delta"], Counter(["alpha", "beta", "omega"]))
    assert (cover.recalled, cover.reference, cover.stored, cover.extra) == (2, 4, 3, 1)
    assert cover.recall == 0.5


def test_nested_openfda_sections_listed_twice_count_once():
    texts = ["Pharmacokinetics Absorption fast Distribution wide", "Absorption fast"]
    assert outermost_texts(texts) == [texts[0]]
