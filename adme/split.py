"""Named, reproducible, leak-free train/validation/test splits of rule-labelled paragraphs.

A split is built from its parameters alone (same database + same parameters = same rows):
1. take every paragraph with a rule label, mapped to the split's classes (five or binary);
2. group copies of one text (same text_hash) into one unit, so they all land on one side
   (`allow_duplicates` makes every paragraph its own unit, as the paper did);
3. stratified, seeded split of the units into test and development parts (per class, a
   seeded shuffle, so every class is on both sides);
4. synthetic imbalance (ratio / step / long-tail) on the development part only;
5. validation carved out of the development part, stratified; the rest is train.
Imbalance counts are in units (distinct texts); without duplicates a unit is one paragraph.

With `reviews`, step 1 takes the reviewed label in force (adme.reviews) where a text has one:
it overrides the rule label and adds paragraphs the rule left unlabelled. A review labels a
text, so copies still agree and still land on one side. The newest review id read is stored
in the params (`reviews_through`), so the split rebuilds from its params alone.

With `group_by` (drug or set_id) steps 3 and 5 move whole groups instead of texts: every
paragraph of one drug (or label) lands on one side, the groups chosen greedily (seeded) so
each class's share of the held part comes as close to the asked fraction as the groups allow.
A text found in groups on both sides (boilerplate such as "No pharmacokinetic differences due
to race") stays on the training side, so no text is ever scored that training has seen.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from adme import store
from adme.checks import check_number
from adme.errors import AdmeError, UsageError
from adme.rules import ADME_CLASSES, BINARY_CLASSES, FIVE_CLASSES
from adme.wording import count

CLASS_SETS = {"five": FIVE_CLASSES, "binary": BINARY_CLASSES}
METHODS = ("natural", "ratio", "step", "long-tail")
PARTS = ("train", "validation", "test")
GROUP_BY = ("drug", "set_id")


@dataclass(frozen=True)
class Unit:
    """Paragraphs that must stay together (copies of one text), with their common label."""

    key: str  # text_hash, or the paragraph_id when duplicates are allowed
    label: str
    paragraph_ids: tuple[str, ...]


@dataclass
class SplitSummary:
    """What `make_split` stored: counts per part and class, folded and dropped duplicates."""

    name: str
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]  # part -> class -> paragraphs
    folded: int  # paragraphs that are copies of a text already in the split
    conflicting_groups: int  # texts whose copies carry different labels
    dropped: int  # paragraphs left out because their copies disagree
    removed: dict[str, int] = field(default_factory=dict)  # class -> units cut by imbalance
    params: dict = field(default_factory=dict)
    reviewed: dict[str, int] = field(default_factory=dict)  # --reviews: what reviews changed
    groups: dict[str, int] = field(default_factory=dict)  # part -> groups (with --group-by)
    shared: int = 0  # texts of groups on both sides, kept on the training side
    content_id: str | None = None  # hash of the stored (text_hash, part, label) rows
    kept: bool = False  # already stored with the same parameters, so left as it was

    def total(self, part: str) -> int:
        """Paragraphs in one part."""
        return sum(self.counts.get(part, {}).values())

    def table(self) -> list[list[str]]:
        """Header row, then one row per class and a total row: class, train, validation, test."""
        rows = [["class", *PARTS]]
        for label in self.classes:
            rows.append([label, *(str(self.counts.get(p, {}).get(label, 0)) for p in PARTS)])
        rows.append(["total", *(str(self.total(p)) for p in PARTS)])
        return rows

    def lines(self) -> list[str]:
        """The summary the CLI prints: the count table and what was folded, dropped and cut."""
        table = self.table()
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        out = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in table
        ]
        out.insert(
            0,
            f"split {self.name!r} ({self.params.get('method')}, "
            f"{count(len(self.classes), 'class')}, content {self.content_id})",
        )
        if self.kept:
            out.append(
                "kept: already stored with these parameters (--replace rebuilds it from the "
                "paragraphs stored now)"
            )
            return out
        if self.params.get("allow_duplicates"):
            out.append("duplicates allowed: copies of one text may sit on both sides")
        else:
            out.append(
                f"folded {count(self.folded, 'duplicate paragraph')} onto the side of their text"
            )
            if self.conflicting_groups:
                out.append(
                    f"{count(self.conflicting_groups, 'text')} had copies with different labels: "
                    f"kept the majority label, dropped {count(self.dropped, 'paragraph')} (ties "
                    "dropped whole)"
                )
        if self.reviewed:
            r = self.reviewed
            out.append(
                f"reviews: {count(r['overridden'], 'paragraph')} relabelled, {r['added']} added "
                f"that the rule left unlabelled, {r['confirmed']} confirmed (review ids up to "
                f"{self.params.get('reviews_through')})"
            )
        if self.groups:
            how = self.params.get("group_by")
            per_part = ", ".join(f"{part} {self.groups.get(part, 0)}" for part in PARTS)
            out.append(
                f"grouped by {how}: {count(sum(self.groups.values()), 'group')} ({per_part})"
            )
            if self.shared:
                out.append(
                    f"{count(self.shared, 'text')} found in {how} groups on both sides "
                    f"{'was' if self.shared == 1 else 'were'} kept on the training side (their "
                    "copies are not scored)"
                )
        if self.removed:
            cut = ", ".join(f"{label} -{n}" for label, n in self.removed.items() if n)
            out.append(f"imbalance removed from train and validation: {cut or 'nothing'}")
        return out


def _check_fraction(method: str, needs_it: str, option: str, value: float | None) -> None:
    """The option a method needs must be given, and be a fraction in (0, 1]."""
    if method != needs_it:
        if value is not None:
            raise UsageError(f"--{option} applies to --method {needs_it} only, not {method}")
        return
    if value is None:
        raise UsageError(f"--method {method} needs --{option}, a fraction in (0, 1]")
    check_number(f"--{option}", value, 0, 1, low_open=True)


def check_params(
    classes: str,
    method: str,
    test_size: float,
    validation_size: float,
    ratio: float | None,
    classes_cut: Sequence[str],
    fraction: float | None,
    mu: float | None,
    group_by: str | None = None,
) -> None:
    """Reject unknown names and out-of-range numbers before anything is read or written."""
    if classes not in CLASS_SETS:
        raise UsageError(f"--classes {classes}: unknown (choose {' or '.join(CLASS_SETS)})")
    if method not in METHODS:
        raise UsageError(f"--method {method}: unknown (choose one of {', '.join(METHODS)})")
    check_number("--test-size", test_size, 0, 1, low_open=True, high_open=True)
    check_number("--validation-size", validation_size, 0, 1, high_open=True)
    _check_fraction(method, "ratio", "ratio", ratio)
    if method == "step":
        if not classes_cut:
            raise UsageError("--method step needs at least one --classes-cut")
        unknown = sorted(set(classes_cut) - set(CLASS_SETS[classes]))
        if unknown:
            raise UsageError(f"--classes-cut {', '.join(unknown)}: not a {classes} class")
    elif classes_cut:
        raise UsageError(f"--classes-cut applies to --method step only, not {method}")
    _check_fraction(method, "step", "fraction", fraction)
    _check_fraction(method, "long-tail", "mu", mu)
    if group_by is not None and group_by not in GROUP_BY:
        raise UsageError(f"--group-by {group_by}: unknown (choose {' or '.join(GROUP_BY)})")


def target_label(rule_label: str, classes: str) -> str | None:
    """The rule label in this split's classes (binary folds the four ADME classes into adme)."""
    if classes == "binary":
        return "adme" if rule_label in ADME_CLASSES else "other"
    return rule_label if rule_label in CLASS_SETS["five"] else None


def make_units(
    rows: Sequence[tuple[str, str, str]], classes: str, allow_duplicates: bool
) -> tuple[list[Unit], int, int, int]:
    """Group (paragraph_id, text_hash, rule_label) rows into units that stay on one side.

    Copies of one text whose labels disagree keep the majority label (the disagreeing copies
    are dropped); a tie drops the whole text. Returns (units sorted by key, folded paragraphs,
    conflicting texts, dropped paragraphs).
    """
    labelled = [(pid, h, target_label(rule, classes)) for pid, h, rule in rows]
    labelled = [row for row in labelled if row[2] is not None]
    if allow_duplicates:
        units = [Unit(pid, label, (pid,)) for pid, _, label in labelled]
        return sorted(units, key=lambda u: u.key), 0, 0, 0
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pid, text_hash, label in labelled:
        groups[text_hash].append((pid, label))
    units, folded, conflicting, dropped = [], 0, 0, 0
    for text_hash in sorted(groups):
        members = groups[text_hash]
        votes = Counter(label for _, label in members).most_common()
        if len(votes) > 1:
            conflicting += 1
            if votes[0][1] == votes[1][1]:
                dropped += len(members)
                continue
        label = votes[0][0]
        kept = tuple(sorted(pid for pid, lab in members if lab == label))
        dropped += len(members) - len(kept)
        folded += len(kept) - 1
        units.append(Unit(text_hash, label, kept))
    return units, folded, conflicting, dropped


def source_rows(
    con, use_reviews: bool
) -> tuple[list[tuple[str, str, str]], dict[str, int], int | None]:
    """(paragraph_id, text_hash, label) rows to split, what reviews did, the last review id.

    Without reviews: the rule-labelled paragraphs. With them: reviewed labels override rule
    labels and add unlabelled paragraphs (counted as overridden / added / confirmed).
    """
    if not use_reviews:
        return con.execute(store.sql_text("queries/split_source")).fetchall(), {}, None
    (through,) = con.execute(store.sql_text("queries/reviews_through")).fetchone()
    if through is None:
        raise AdmeError("--reviews: the database holds no reviews (adme review import FILE)")
    found = con.execute(
        store.sql_text("queries/split_source_reviewed"), {"through": through}
    ).fetchall()
    counts = Counter(
        "added" if rule is None else "confirmed" if review == rule else "overridden"
        for _, _, _, rule, review in found
        if review is not None
    )
    reviewed = {k: counts[k] for k in ("overridden", "added", "confirmed")}
    return [(pid, h, label) for pid, h, label, _, _ in found], reviewed, through


def stratified_split(
    units: Sequence[Unit], size: float, seed: int, part: str, *, strict: bool = True
) -> tuple[list[Unit], list[Unit]]:
    """Split units into (rest, held): per class, a seeded shuffle and the first round(size*n).

    Every class keeps at least one unit on each side. A class with a single unit cannot be
    split: an AdmeError when `strict` (the test part), else it stays in the rest (validation).
    """
    by_label: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        by_label[unit.label].append(unit)
    rest, held = [], []
    for label in sorted(by_label):
        members = sorted(by_label[label], key=lambda u: u.key)
        if len(members) < 2:
            if strict:
                raise AdmeError(
                    f"cannot stratify the {part} part: class {label} has only "
                    f"{len(members)} distinct text"
                )
            rest.extend(members)
            continue
        random.Random(f"{seed}/{part}/{label}").shuffle(members)
        n_held = min(len(members) - 1, max(1, int(size * len(members) + 0.5)))
        held.extend(members[:n_held])
        rest.extend(members[n_held:])
    return sorted(rest, key=lambda u: u.key), sorted(held, key=lambda u: u.key)


_BRACKETED = re.compile(r"\(([^()]*)\)")
_NEEDED_TO_USE = re.compile(r"needed to use (.+)", re.IGNORECASE)
_BRAND_DASH_GENERIC = re.compile(r"^[^-]+ - (.+)")
_NAME_WORD = re.compile(r"[a-z][a-z-]{2,}")


def drug_from_title(title: str | None) -> str | None:
    """A drug name guessed from a label's title, for `--group-by drug` without ingredients.

    The first word of the generic name in brackets ("CELEBREX (celecoxib) capsules"), else of
    the name after "needed to use" (Highlights titles), else after "BRAND - " (a kit's title),
    else of the title; lower-cased, so
    "Diclofenac Sodium Gel" and "DICLOFENAC POTASSIUM tablets" are one drug. A heuristic: a
    title naming only a brand makes that brand its own group.
    """
    if not title:
        return None
    for bracketed in _BRACKETED.findall(title):
        if word := _NAME_WORD.search(bracketed.lower()):
            return word.group()
    named = _NEEDED_TO_USE.search(title) or _BRAND_DASH_GENERIC.search(title)
    word = _NAME_WORD.search((named.group(1) if named else title).lower())
    return word.group() if word else None


def group_keys(con, group_by: str) -> dict[str, str]:
    """paragraph_id -> its group for `--group-by`: the label's set id, or its drug.

    A drug is the document's active ingredients (moieties, from the stored products) when it
    names any, else the name `drug_from_title` finds, else the set id.
    """
    rows = con.execute(store.sql_text("queries/split_group_keys")).fetchall()
    if group_by == "set_id":
        return {pid: f"set:{set_id}" for pid, _, set_id, _, _ in rows}
    keys = {}
    for pid, _, set_id, ingredients, title in rows:
        name = None if ingredients else drug_from_title(title)
        keys[pid] = (
            f"ingredients:{ingredients}"
            if ingredients
            else f"name:{name}"
            if name
            else f"set:{set_id}"
        )
    return keys


def choose_groups(
    members: dict[str, list[Unit]], size: float, seed: int, part: str, tries: int = 200
) -> set[str]:
    """The groups to hold out so each class's held units come closest to `size` x its total.

    Greedy over `tries` seeded orders of the groups (add a group when it brings the per-class
    shares closer to the target), keeping the best; a class with none held (or all held) costs
    more than any miss, so every class is on both sides whenever the groups allow it.
    """
    totals = Counter(u.label for units in members.values() for u in units)
    targets = {label: max(size * n, 1.0) for label, n in totals.items()}
    adds = {g: Counter(u.label for u in units) for g, units in members.items()}

    def cost(counts: Counter) -> float:
        miss = sum(((counts[c] - t) / t) ** 2 for c, t in targets.items())
        empty = sum(counts[c] == 0 or counts[c] == totals[c] for c in targets)
        return miss + 100.0 * empty

    rng = random.Random(f"{seed}/{part}/groups")
    groups = sorted(members)
    best: tuple[float, set[str]] | None = None
    for _ in range(tries):
        rng.shuffle(groups)
        held, counts = set(), Counter()
        for group in groups:
            added = counts + adds[group]
            if cost(added) < cost(counts):
                held.add(group)
                counts = added
        if best is None or cost(counts) < best[0]:
            best = (cost(counts), held)
    return best[1] if best else set()


@dataclass
class GroupedParts:
    """What `grouped_split` did: both sides, the groups on each, texts kept back as shared."""

    rest: list[Unit]
    held: list[Unit]
    rest_groups: int
    held_groups: int
    shared: set[str]  # keys of texts whose groups went both ways


def grouped_split(
    units: Sequence[Unit],
    keys: dict[str, str],
    size: float,
    seed: int,
    part: str,
    *,
    strict: bool = True,
) -> GroupedParts:
    """Split units so every group (drug, set id) is on one side; see `choose_groups`.

    Groups that share a text are tied together (a generic and its reference label), fewest
    groups first, as long as the tied groups could still be held out (at most `size` of the
    units); a text that would tie more than that (boilerplate common to many drugs) does not,
    and stays on the training side unless all its groups are held. With `strict` (the test
    part) a class that ends up with nothing held is an AdmeError: too few groups to score it.
    """
    unit_groups = {u.key: frozenset(keys[pid] for pid in u.paragraph_ids) for u in units}
    tie = _Ties({g for groups in unit_groups.values() for g in groups})
    for unit in units:
        if len(unit_groups[unit.key]) == 1:
            tie.weight[next(iter(unit_groups[unit.key]))] += 1
    cap = max(size * len(units), 1.0)
    for unit in sorted(units, key=lambda u: (len(unit_groups[u.key]), u.key)):
        if len(unit_groups[unit.key]) > 1:
            tie.join(unit_groups[unit.key], cap)
    members: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        roots = {tie.find(g) for g in unit_groups[unit.key]}
        if len(roots) == 1:
            members[roots.pop()].append(unit)
    if strict and len(members) < 2:
        raise AdmeError(
            f"cannot split the {part} part by group: only {count(len(members), 'group')} of "
            "paragraphs"
        )
    held_roots = choose_groups(members, size, seed, part)
    rest, held, shared = [], [], set()
    for unit in units:
        roots = {tie.find(g) for g in unit_groups[unit.key]}
        if roots <= held_roots:
            held.append(unit)
        else:
            rest.append(unit)
            if roots & held_roots:
                shared.add(unit.key)
    if strict:
        missing = sorted({u.label for u in units} - {u.label for u in held})
        if missing:
            raise AdmeError(
                f"cannot stratify the {part} part by group: no group can hold out class "
                f"{', '.join(missing)} without taking all of it"
            )
    owning = {g for g in tie.parent if tie.find(g) in members}
    held_groups = {g for g in owning if tie.find(g) in held_roots}
    return GroupedParts(
        sorted(rest, key=lambda u: u.key),
        sorted(held, key=lambda u: u.key),
        len(owning - held_groups),
        len(held_groups),
        shared,
    )


class _Ties:
    """Union-find over groups, each root weighted by the units it owns alone."""

    def __init__(self, groups: set[str]):
        self.parent = {g: g for g in sorted(groups)}
        self.weight = dict.fromkeys(self.parent, 0)

    def find(self, group: str) -> str:
        """The root of `group`'s tied set."""
        while self.parent[group] != group:
            self.parent[group] = self.parent[self.parent[group]]
            group = self.parent[group]
        return group

    def join(self, groups: frozenset[str], cap: float) -> None:
        """Tie `groups` (and the text they share) into one set if it stays within `cap`."""
        roots = sorted({self.find(g) for g in groups})
        total = sum(self.weight[r] for r in roots) + 1
        if total > cap and len(roots) > 1:
            return
        for root in roots[1:]:
            self.parent[root] = roots[0]
        self.weight[roots[0]] = total


def class_counts(units: Sequence[Unit], classes: Sequence[str]) -> dict[str, int]:
    """Units per class, in model class order (so equal sizes rank in that order)."""
    counts = Counter(u.label for u in units)
    return {label: counts[label] for label in classes if counts[label]}


def imbalance_targets(
    counts: dict[str, int],
    method: str,
    *,
    ratio: float | None = None,
    classes_cut: Sequence[str] = (),
    fraction: float | None = None,
    mu: float | None = None,
) -> dict[str, int]:
    """How many units of each class to keep in train under a synthetic imbalance.

    ratio: every class but the largest is capped at round(ratio * N_max) (binary: the minority
    class is cut to ratio x the majority, as in the paper's SST-2 experiment). step: each class
    in `classes_cut` keeps round(fraction x its size). long-tail: classes sorted by size
    (largest first) keep N_max * mu**i. Never more than a class has, never fewer than 1.
    """
    if method == "natural":
        return dict(counts)
    order = sorted(counts, key=lambda label: -counts[label])  # stable: ties keep given order
    n_max = counts[order[0]]
    targets = dict(counts)
    for rank, label in enumerate(order):
        if method == "ratio" and rank > 0:
            targets[label] = round(ratio * n_max)
        elif method == "step" and label in classes_cut:
            targets[label] = round(fraction * counts[label])
        elif method == "long-tail":
            targets[label] = round(n_max * mu**rank)
    return {label: max(1, min(counts[label], n)) for label, n in targets.items()}


def apply_imbalance(
    units: Sequence[Unit], targets: dict[str, int], seed: int
) -> tuple[list[Unit], dict[str, int]]:
    """Keep a seeded random `targets[label]` units of each class; return kept and removed count."""
    by_label: dict[str, list[Unit]] = defaultdict(list)
    for unit in units:
        by_label[unit.label].append(unit)
    kept, removed = [], {}
    for label in sorted(by_label):
        members = by_label[label]
        chosen = random.Random(f"{seed}/{label}").sample(members, targets[label])
        kept.extend(chosen)
        removed[label] = len(members) - len(chosen)
    return sorted(kept, key=lambda u: u.key), removed


def split_rows_table(parts: dict[str, Sequence[Unit]]) -> pa.Table:
    """One (paragraph_id, part, label) row per paragraph of every unit, for store.write_split."""
    rows = [
        {"paragraph_id": pid, "part": part, "label": unit.label}
        for part, units in parts.items()
        for unit in units
        for pid in unit.paragraph_ids
    ]
    rows.sort(key=lambda r: r["paragraph_id"])
    schema = pa.schema(
        [("paragraph_id", pa.string()), ("part", pa.string()), ("label", pa.string())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def part_counts(
    parts: dict[str, Sequence[Unit]], classes: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Paragraphs per part and class (every class listed, zero when absent)."""
    counts = {part: dict.fromkeys(classes, 0) for part in PARTS}
    for part, units in parts.items():
        for unit in units:
            counts[part][unit.label] += len(unit.paragraph_ids)
    return counts


def make_split(
    db_path: str | Path,
    name: str,
    *,
    classes: str = "five",
    method: str = "natural",
    test_size: float = 0.15,
    validation_size: float = 0.1,
    ratio: float | None = None,
    classes_cut: Sequence[str] = (),
    fraction: float | None = None,
    mu: float | None = None,
    seed: int = 42,
    allow_duplicates: bool = False,
    group_by: str | None = None,
    replace: bool = False,
    reviews: bool = False,
) -> SplitSummary:
    """Build the named split from the rule-labelled paragraphs and store it; return counts.

    `validation_size` is the fraction of the (imbalanced) development part held out for
    tuning; the test part is cut first and never touched by the imbalancing. `reviews`:
    reviewed labels override rule labels and add the paragraphs the rule left unlabelled.
    `group_by`
    (drug | set_id) keeps every paragraph of one group on one side of both cuts.
    """
    check_params(
        classes, method, test_size, validation_size, ratio, classes_cut, fraction, mu, group_by
    )
    if not name.strip():
        raise AdmeError("a split needs a non-empty name")
    class_names = CLASS_SETS[classes]
    params = {
        "classes": classes,
        "method": method,
        "test_size": test_size,
        "validation_size": validation_size,
        "ratio": ratio,
        "classes_cut": sorted(classes_cut),
        "fraction": fraction,
        "mu": mu,
        "seed": seed,
        "allow_duplicates": allow_duplicates,
        "conflicts": "majority label, ties dropped",
    }
    if group_by is not None:  # absent otherwise, so older splits' params read the same
        params["group_by"] = group_by
    if not Path(db_path).is_file():  # connect() would create an empty file at a mistyped path
        raise AdmeError(f"{db_path}: database does not exist (run `adme fetch` first)")
    con = store.connect(db_path)
    try:
        rows, reviewed, through = source_rows(con, reviews)
        if reviews:  # absent otherwise, so older splits' params read the same
            params["reviews_through"] = through
        if not replace:
            stored = stored_summary(con, name, params)
            if stored is not None:
                return stored
        if not rows:
            raise AdmeError(f"{db_path}: no paragraphs with a rule label to split")
        units, _, conflicting, dropped = make_units(rows, classes, allow_duplicates)
        missing = [c for c in class_names if not any(u.label == c for u in units)]
        if missing:
            raise AdmeError(f"{db_path}: no labelled paragraphs of class {', '.join(missing)}")
        keys = group_keys(con, group_by) if group_by else None
        groups: dict[str, int] = {}
        shared: set[str] = set()
        if keys is None:
            development, test = stratified_split(units, test_size, seed, "test")
        else:
            cut = grouped_split(units, keys, test_size, seed, "test")
            development, test, shared = cut.rest, cut.held, cut.shared
            groups |= {"train": cut.rest_groups, "test": cut.held_groups}
        targets = imbalance_targets(
            class_counts(development, class_names),
            method,
            ratio=ratio,
            classes_cut=classes_cut,
            fraction=fraction,
            mu=mu,
        )
        development, removed = apply_imbalance(development, targets, seed)
        if validation_size > 0 and keys is not None:
            cut = grouped_split(
                development, keys, validation_size, seed, "validation", strict=False
            )
            train, validation, shared = cut.rest, cut.held, shared | cut.shared
            groups |= {"train": cut.rest_groups, "validation": cut.held_groups}
        elif validation_size > 0:
            train, validation = stratified_split(
                development, validation_size, seed, "validation", strict=False
            )
        else:
            train, validation = development, []
        parts = {"train": train, "validation": validation, "test": test}
        # copies still in the split after imbalancing, each folded onto its text's side
        folded = sum(len(u.paragraph_ids) - 1 for units in parts.values() for u in units)
        content_id = store.write_split(
            con,
            name,
            json.dumps(params, sort_keys=True),
            class_names,
            folded,
            split_rows_table(parts),
            replace=replace,
        )
    finally:
        con.close()
    return SplitSummary(
        name=name,
        classes=class_names,
        counts=part_counts(parts, class_names),
        folded=folded,
        conflicting_groups=conflicting,
        dropped=dropped,
        removed=removed if method != "natural" else {},
        params=params,
        reviewed=reviewed,
        groups=groups,
        shared=len(shared),
        content_id=content_id,
    )


def stored_summary(con, name: str, params: dict) -> SplitSummary | None:
    """The stored split NAME if it was built with exactly PARAMS (None if absent).

    Asking again for a split already stored with the same parameters keeps it, so a rerun of
    a script never changes an experiment because paragraphs were added since (`--replace`
    rebuilds). A split stored with other parameters is left for write_split to refuse.
    """
    found = con.execute(
        "SELECT params, classes, folded, content_id FROM splits WHERE split_name = ?", [name]
    ).fetchone()
    if found is None or json.loads(found[0]) != json.loads(json.dumps(params)):
        return None
    classes = tuple(found[1])
    counts = {part: dict.fromkeys(classes, 0) for part in PARTS}
    rows = con.execute(
        "SELECT part, label, count(*) FROM split_rows WHERE split_name = ? GROUP BY ALL", [name]
    ).fetchall()
    for part, label, n in rows:
        counts.setdefault(part, {})[label] = n
    return SplitSummary(
        name=name,
        classes=classes,
        counts=counts,
        folded=found[2] or 0,
        conflicting_groups=0,
        dropped=0,
        params=params,
        content_id=found[3],
        kept=True,
    )


# ----------------------------------------------------------------------------- reading a split


@dataclass(frozen=True)
class Part:
    """One part (train / validation / test) of a split: ids, texts and class indices."""

    paragraph_ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SplitData:
    """A stored split as the trainer needs it: class names in model order and the parts."""

    name: str
    classes: tuple[str, ...]
    parts: dict[str, Part]
    content_id: str | None = None  # the split's content identity, recorded with every run


def load_split(db_path: str | Path, split: str) -> SplitData:
    """Read a split's classes and its rows' paragraph TEXT (never the heading) from the DB."""
    con = store.connect(db_path, read_only=True)
    try:
        try:
            found = con.execute(
                store.sql_text("queries/split_classes"), {"split": split}
            ).fetchone()
            rows = con.execute(store.sql_text("queries/split_rows_for_training"), {"split": split})
            rows = rows.fetchall()
        except duckdb.CatalogException:  # a database with no splits table has no split either
            found = None
    finally:
        con.close()
    if found is None:
        raise AdmeError(f"{db_path}: unknown split {split!r} (create it with `adme split`)")
    return split_data(split, tuple(found[0]), rows, found[1])


def split_data(
    split: str, classes: tuple[str, ...], rows: Sequence[tuple], content_id: str | None = None
) -> SplitData:
    """Group (paragraph_id, part, label, text) rows into parts with class indices."""
    index = {name: i for i, name in enumerate(classes)}
    parts: dict[str, Part] = {name: Part() for name in PARTS}
    for paragraph_id, part, label, text in rows:
        if label not in index:
            raise AdmeError(f"split {split!r}: label {label!r} is not one of {list(classes)}")
        if part not in parts:
            raise AdmeError(f"split {split!r}: unknown part {part!r}")
        parts[part].paragraph_ids.append(paragraph_id)
        parts[part].texts.append(text)
        parts[part].labels.append(index[label])
    return SplitData(split, classes, parts, content_id)
