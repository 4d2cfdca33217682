"""The labelling rule: one test per row of rules.RULES, plus how rows combine along a path."""

from __future__ import annotations

import pytest

from adme import rules
from adme.rules import RULES, decide, is_known_heading, matching_rule, rule_label

# (row name, a heading that must match that row, label it gives alone, reason it gives alone)
ROW_CASES = [
    ("two classes", "Metabolism and Excretion", None,
     "ambiguous: names metabolism and excretion: heading 'Metabolism and Excretion'"),
    ("absorption", "Absorption", "absorption", "heading 'Absorption'"),
    ("absorption", "2.1 Absorption and Bioavailability:", "absorption",
     "heading '2.1 Absorption and Bioavailability:'"),
    ("distribution", "Distribution:", "distribution", "heading 'Distribution:'"),
    ("metabolism", "Metabolites", "metabolism", "heading 'Metabolites'"),
    ("excretion or elimination", "Excretion", "excretion", "heading 'Excretion'"),
    ("excretion or elimination", "Elimination.", "excretion", "heading 'Elimination.'"),
    ("bioavailability or food effect", "Food Effect", None,
     "not decisive alone (absorption only when an outer heading says so): heading 'Food Effect'"),
    ("bioavailability or food effect", "Bioavailability", None,
     "not decisive alone (absorption only when an outer heading says so): "
     "heading 'Bioavailability'"),
    ("known non-ADME topic", "Specific Populations", "other",
     "heading 'Specific Populations' (a non-ADME topic)"),
    ("known non-ADME topic", "Drug Interaction Studies", "other",
     "heading 'Drug Interaction Studies' (a non-ADME topic)"),
    ("known non-ADME topic", "Geriatric:", "other", "heading 'Geriatric:' (a non-ADME topic)"),
    ("known non-ADME topic", "Renal Impairment", "other",
     "heading 'Renal Impairment' (a non-ADME topic)"),
    ("the pharmacokinetics section itself", "12.3 Pharmacokinetics", None, None),
    ("any other heading", "Butalbital", None,
     "not decisive alone (names no ADME class): heading 'Butalbital'"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "heading", "label", "reason"), ROW_CASES)
def test_each_row_alone(row, heading, label, reason):
    assert matching_rule(heading).name == row
    assert rule_label([heading]) == (label, reason)


def test_every_row_of_the_table_has_a_case():
    assert {row for row, *_ in ROW_CASES} == {rule.name for rule in RULES}


@pytest.mark.parametrize(
    ("path", "label", "decider"),
    [
        (["Absorption", "Food Effect"], "absorption", 0),  # food effect sits under absorption
        (["Absorption", "Bioavailability"], "absorption", 0),
        (["Pharmacokinetics", "Food Effect"], None, 1),  # alone it is not decisive
        (["Elimination", "Metabolism"], "metabolism", 1),  # nearer title says metabolism
        (["Metabolism", "Elimination"], "excretion", 1),
        (["Distribution", "Table 3: Protein binding"], "distribution", 0),  # defers outwards
        (["Specific Populations", "Geriatric:"], "other", 1),
        (["Absorption", "Drug Interactions"], "other", 1),
        (["Metabolism and Excretion", "In vitro:"], None, 0),  # ambiguous stops the walk
        (["Steady State", "Food Effect"], None, 1),  # the nearest undecisive one is named
        (["Specific Populations", "Hemodialysis"], "other", 0),
        ([], None, None),  # no heading at all: for the classifier
    ],
)
def test_nearest_deciding_heading_wins(path, label, decider):
    decision = decide(path)
    assert (decision.label, decision.index) == (label, decider)


def test_reason_names_the_kind_of_the_deciding_heading():
    path = ["Pharmacokinetics", "Absorption", "Effect of food:"]
    kinds = ["title", "title", "inline heading"]
    assert rule_label(path, kinds) == ("absorption", "title 'Absorption'")
    assert rule_label(["Absorption:"], ["inline heading"]) == (
        "absorption",
        "inline heading 'Absorption:'",
    )


def test_labels_are_the_public_classes():
    outcomes = {rule.outcome for rule in RULES}
    outcomes -= {rules.AMBIGUOUS, rules.DEFER, rules.IGNORE}
    assert outcomes <= set(rules.LABELS)
    assert rules.LABELS == ("absorption", "distribution", "metabolism", "excretion", "other")


@pytest.mark.parametrize(
    ("text", "known"),
    [
        ("Food Effect", True),
        ("Absorption", True),
        ("Hepatic Impairment", True),
        ("Table 1", False),
        ("In vitro", False),
        ("The absorption of this drug is increased by food in most patients", False),
    ],
)
def test_known_pharmacokinetics_headings(text, known):
    assert is_known_heading(text) is known


def test_classes_named_ignores_numbering_and_case():
    assert rules.classes_named("12.3.1 DISTRIBUTION") == ("distribution",)
    assert rules.classes_named("Metabolism and Elimination") == ("metabolism", "excretion")
    assert rules.classes_named("Half-life") == ()
