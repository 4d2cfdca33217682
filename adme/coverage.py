"""Word coverage of extracted paragraphs against openFDA's pharmacokinetics text.

openFDA's converter flattens a label's 43682-4 section into text (headings run into the text,
tables flattened). Comparing the multiset of words it holds with the words adme stored shows
whether extraction lost text (recall) or invented text openFDA lacks (extra). Shared by the
test on the shipped sample and by benchmarks/coverage.py on the whole corpus.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adme.spl import Paragraph

_WORD = re.compile(r"[a-z0-9]+")
_LEADING_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)+\.?\s+")
_MAX_JOIN = 4


def words(text: str) -> list[str]:
    """Lower-cased word tokens of a text, section numbering ("12.3 ") at its start dropped."""
    return _WORD.findall(_LEADING_NUMBER.sub("", text).lower())


def stored_words(paragraphs: Iterable[Paragraph]) -> Counter[str]:
    """Words a label's stored rows hold: texts, headings, and each section-path title once.

    Path titles repeat on every paragraph under them, so a title counts once per distinct
    path prefix; a heading counts when it is not already one of its path's titles.
    """
    counts: Counter[str] = Counter()
    seen_prefixes: set[tuple[str, ...]] = set()
    for paragraph in paragraphs:
        titles = tuple(paragraph.section_path.split(" > ")) if paragraph.section_path else ()
        for end in range(1, len(titles) + 1):
            if titles[:end] not in seen_prefixes:
                seen_prefixes.add(titles[:end])
                counts.update(words(titles[end - 1]))
        if paragraph.heading and paragraph.heading not in titles:
            counts.update(words(paragraph.heading))
        counts.update(words(paragraph.text))
    return counts


@dataclass(frozen=True)
class Coverage:
    """How many of the reference's words were found, and how many stored words it lacks."""

    reference: int  # words in openFDA's text
    recalled: int  # of those, found among the stored words
    stored: int  # words adme stored
    extra: int  # stored words not matched to any reference word

    @property
    def recall(self) -> float:
        return self.recalled / self.reference if self.reference else 1.0

    @property
    def extra_share(self) -> float:
        return self.extra / self.stored if self.stored else 0.0


def compare(reference_texts: Sequence[str], stored: Counter[str]) -> Coverage:
    """Match openFDA's words against the stored multiset, one stored word per reference word.

    openFDA writes sub/superscripts as separate words ("C max") and keeps words split over
    bold runs apart ("A bsorption"); adme joins them ("cmax", "absorption"). So up to four
    consecutive reference words whose concatenation is a stored word count as found.
    """
    remaining = Counter(stored)
    tokens = [token for text in outermost_texts(reference_texts) for token in words(text)]
    recalled = 0
    index = 0
    while index < len(tokens):
        step = _joined_match(tokens, index, remaining)
        if step:
            recalled += step
            index += step
            continue
        if remaining[tokens[index]] > 0:
            remaining[tokens[index]] -= 1
            recalled += 1
        index += 1
    stored_total = sum(stored.values())
    return Coverage(len(tokens), recalled, stored_total, sum(remaining.values()))


def outermost_texts(reference_texts: Sequence[str]) -> list[str]:
    """openFDA's texts without those of nested 43682-4 sections, which it lists twice.

    openFDA gives each 43682-4 section's text with its subsections included, so a 43682-4
    nested in another appears both inside its parent's text and again on its own.
    """
    joined = [" ".join(words(text)) for text in reference_texts]
    return [
        text
        for index, text in enumerate(reference_texts)
        if not any(
            other != index
            and joined[index] in joined[other]
            and len(joined[other]) > len(joined[index])
            for other in range(len(joined))
        )
    ]


def _joined_match(tokens: list[str], index: int, remaining: Counter[str]) -> int:
    for width in range(_MAX_JOIN, 1, -1):
        if index + width > len(tokens):
            continue
        parts = tokens[index : index + width]
        if all(remaining[part] > 0 for part in parts):
            continue  # each word is there on its own: no reason to join them
        joined = "".join(parts)
        if remaining[joined] > 0:
            remaining[joined] -= 1
            return width
    return 0


def is_bare_heading(reference_texts: Sequence[str]) -> bool:
    """True when openFDA's text is just "Pharmacokinetics": a bare 43682-4 it could not follow."""
    return [words(text) for text in reference_texts] in ([["pharmacokinetics"]], [[]], [])
