"""The labelling rule: which ADME class a pharmacokinetics paragraph gets from its headings.

`RULES` is the whole rule as one table. Each row says what a heading that matches its pattern
means; `rule_label` walks the headings above a paragraph from the nearest outwards and applies
the first row that matches each heading, until a row decides.

- A heading naming exactly one of absorption / distribution / metabolism / excretion (elimination
  counts as excretion) decides that class. Walking nearest-first means a nearer "Metabolism"
  beats an outer "Elimination", and "Absorption > Food Effect" ends at "Absorption".
- A heading naming two of them ("Metabolism and Excretion") is ambiguous: no label.
- Bioavailability and food effect are absorption only when an outer heading says so; alone they
  decide nothing.
- A heading on a known non-ADME topic (Specific Populations, Drug Interactions, Geriatric, ...)
  decides `other`.
- Any other heading ("Steady State", "Table 2", a component drug's name in a combination
  label: "Butalbital") defers to the headings around it; when none of those decides, the
  paragraph gets no label, since such headings cover mixed content (a component's
  absorption, distribution and elimination alike).
- The section's own title ("Pharmacokinetics", "Clinical Pharmacology") is skipped.
- No heading at all: no label (that is what the classifier is for).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

# The one home of class names: rule labels, splits, models and plots all use these.
ADME_CLASSES = ("absorption", "distribution", "metabolism", "excretion")
LABELS = (*ADME_CLASSES, "other")
FIVE_CLASSES = LABELS
BINARY_CLASSES = ("adme", "other")

# What each ADME class is called in headings (word stems, matched at a word start).
_CLASS_WORDS = {
    "absorption": r"absor",
    "distribution": r"distribut",
    "metabolism": r"metaboli",
    "excretion": r"excret|eliminat",
}
_CLASS_PATTERNS = {name: re.compile(rf"\b(?:{stems})") for name, stems in _CLASS_WORDS.items()}

# Outcomes of a row: a label, or one of these.
AMBIGUOUS = "ambiguous"  # names two classes: stop, no label
DEFER = "defer"  # not decisive alone: ask the outer heading; no label if none decides
IGNORE = "ignore"  # says nothing about the class: skip it


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: headings matching `pattern` mean `outcome`."""

    name: str
    pattern: re.Pattern[str] | None  # None: matched by the class count instead
    outcome: str
    why: str


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")")


# The rule, first matching row wins for each heading. Rows 1-5 look at how many ADME classes a
# heading names (see `classes_named`); the rest match words.
RULES: tuple[Rule, ...] = (
    Rule("two classes", None, AMBIGUOUS, "names {classes}"),
    Rule("absorption", None, "absorption", "names absorption"),
    Rule("distribution", None, "distribution", "names distribution"),
    Rule("metabolism", None, "metabolism", "names metabolism"),
    Rule("excretion or elimination", None, "excretion", "names excretion"),
    Rule(
        "bioavailability or food effect",
        _words(r"bioavailab", r"food", r"fed\b", r"fasting"),
        DEFER,
        "absorption only when an outer heading says so",
    ),
    Rule(
        "known non-ADME topic",
        _words(
            r"special\s+population",
            r"specific\s+population",
            r"drug[\s-]+(?:drug\s+)?interaction",
            r"interaction",
            r"geriatric",
            r"elderly",
            r"pediatric",
            r"paediatric",
            r"children",
            r"adolescent",
            r"neonat",
            r"infant",
            r"age\b",
            r"renal",
            r"hepatic",
            r"kidney",
            r"liver",
            r"gender",
            r"sex\b",
            r"race",
            r"ethnic",
            r"pregnan",
            r"lactat",
            r"nursing",
            r"obes",
            r"body\s+weight",
            r"smok",
            r"pharmacogenom",
            r"dialysis",
        ),
        "other",
        "a non-ADME topic",
    ),
    Rule(
        "the pharmacokinetics section itself",
        re.compile(r"^(?:clinical\s+)?pharmacokinetics?$|^clinical\s+pharmacology$"),
        IGNORE,
        "the section's own title",
    ),
    Rule("any other heading", re.compile(r""), DEFER, "names no ADME class"),
)

_NUMBERING = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z]\.|\([a-z0-9]+\))\s+")


@functools.lru_cache(maxsize=4096)
def normalise_heading(heading: str) -> str:
    """Lower-case a heading and drop its section number and trailing punctuation ("12.3 X:")."""
    text = _NUMBERING.sub("", heading).strip().rstrip(":.;,- ").strip()
    return " ".join(text.lower().split())


@functools.lru_cache(maxsize=4096)
def classes_named(heading: str) -> tuple[str, ...]:
    """The ADME classes a heading names, in class order ("Metabolism and Excretion" -> two)."""
    text = normalise_heading(heading)
    return tuple(name for name, pattern in _CLASS_PATTERNS.items() if pattern.search(text))


@functools.lru_cache(maxsize=4096)
def matching_rule(heading: str) -> Rule:
    """The first row of RULES that a single heading matches (the last row matches anything)."""
    named = classes_named(heading)
    if len(named) > 1:
        return RULES[0]
    if len(named) == 1:
        return next(rule for rule in RULES[1:5] if rule.outcome == named[0])
    text = normalise_heading(heading)
    return next(rule for rule in RULES[5:] if rule.pattern.search(text))


# Inline bold text that names one of these is a heading even without a trailing ":" or ".".
_KNOWN_HEADING_WORDS = re.compile(
    "|".join(
        [rf"\b(?:{stems})" for stems in _CLASS_WORDS.values()]
        + [
            rule.pattern.pattern
            for rule in RULES
            if rule.name in ("bioavailability or food effect", "known non-ADME topic")
        ]
        + [r"\bpharmacokinetic", r"\bhalf[\s-]*life"]
    )
)


def is_known_heading(text: str) -> bool:
    """True when a short phrase names a known pharmacokinetics heading ("Food Effect")."""
    normal = normalise_heading(text)
    return 0 < len(normal.split()) <= 6 and bool(_KNOWN_HEADING_WORDS.search(normal))


@dataclass(frozen=True)
class Decision:
    """What the rule made of a chain of headings: the label and which heading decided it."""

    label: str | None
    index: int | None  # position of the deciding heading in the chain; None: no heading
    why: str | None


def decide(path_headings: Sequence[str]) -> Decision:
    """Apply RULES to headings ordered outermost to nearest; say which one decided and why."""
    fallback: Decision | None = None
    for index in range(len(path_headings) - 1, -1, -1):
        heading = path_headings[index]
        rule = matching_rule(heading)
        if rule.outcome == AMBIGUOUS:
            names = " and ".join(classes_named(heading))
            return Decision(None, index, f"ambiguous: names {names}")
        if rule.outcome == IGNORE:
            continue
        if rule.outcome == DEFER:
            if fallback is None:
                fallback = Decision(None, index, f"not decisive alone ({rule.why})")
            continue
        return Decision(rule.outcome, index, None if rule.outcome != "other" else rule.why)
    return fallback or Decision(None, None, None)


def rule_label(
    path_headings: Sequence[str], kinds: Sequence[str] | None = None
) -> tuple[str | None, str | None]:
    """Label a paragraph from the titles/headings above it (outermost first).

    Returns (label, reason); the reason names the deciding heading and its kind (`kinds[i]`,
    e.g. "title" or "inline heading"; "heading" when not given), so a reviewer can check it.
    """
    decision = decide(path_headings)
    return decision.label, explain(decision, path_headings, kinds)


def explain(
    decision: Decision, path_headings: Sequence[str], kinds: Sequence[str] | None = None
) -> str | None:
    """The rule_reason of a decision: which heading (of which kind) decided, and why."""
    if decision.index is None:
        return None
    kind = kinds[decision.index] if kinds is not None else "heading"
    named = f"{kind} '{path_headings[decision.index]}'"
    if decision.label is None:
        return f"{decision.why}: {named}"
    if decision.why:
        return f"{named} ({decision.why})"
    return named
