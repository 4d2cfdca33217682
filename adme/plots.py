"""The figures of `adme plot`: class balance, per-class F1, a confusion matrix, confidence,
and an imbalance sweep's F1 curves (the paper's Figure 2).

Data comes from `sql/plot_*.sql` (reports in their own right, so the numbers behind a figure can
be printed with `adme report`). Figures are drawn on a bare `matplotlib.figure.Figure`, which
renders with the Agg backend and touches no global pyplot state, so plotting works headless
and from several threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from adme import reports
from adme.errors import AdmeError, UsageError
from adme.rules import BINARY_CLASSES, FIVE_CLASSES
from adme.wording import count

PLOT_NAMES = ("class-balance", "per-class-f1", "confusion", "confidence", "sweep")
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
CLASS_ORDER = (*FIVE_CLASSES, *(c for c in BINARY_CLASSES if c not in FIVE_CLASSES))
PART_ORDER = ("train", "validation", "test")
METHOD_ORDER = ("vanilla", "ldam", "drw", "two-stage", "tfidf")
DPI = 120


def ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    """NAMES in a fixed reading order (known ones first as in ORDER, the rest alphabetically)."""
    known = [n for n in order if n in names]
    return known + sorted(set(names) - set(known))


def choices(db_path: str | Path, kind: str) -> list[str]:
    """Stored splits, runs (newest first) or models with predictions, for defaults and errors."""
    _, rows = reports.run_query(db_path, "queries/plot_choices")
    return [name for k, name, _ in rows if k == kind]


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none"


# --- data -> figure -----------------------------------------------------------------------


def _bar_chart(
    title: str, categories: Sequence[str], series: dict[str, Sequence[float]], ylabel: str
) -> Figure:
    """Grouped bars: one group per category, one bar per series, each bar labelled."""
    fig = Figure(figsize=(max(6.0, 1.4 * len(categories) + 2), 4.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set_xticks(x, categories)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("class")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend()
    ax.margins(y=0.12)
    return fig


def class_balance_figure(db_path: str | Path, split: str | None = None) -> Figure:
    """Paragraphs per rule label; with SPLIT, that split's parts side by side per label."""
    if split is None:
        _, rows = reports.run_query(db_path, "class_balance")
        if not rows:
            raise AdmeError(f"{db_path}: no paragraphs stored yet (run `adme fetch` first)")
        counts = {label: n for label, n, _ in rows}
        labels = ordered(list(counts), (*CLASS_ORDER, "unlabelled"))
        total = sum(counts.values())
        return _bar_chart(
            f"Paragraphs per rule label ({total} in all)",
            labels,
            {"paragraphs": [counts[label] for label in labels]},
            "paragraphs",
        )
    _, rows = reports.run_query(db_path, "plot_split_balance", {"split": split})
    if not rows:
        raise AdmeError(
            f"split {split!r} not found; stored splits: {_listing(choices(db_path, 'split'))}"
        )
    labels = ordered({label for _, label, _ in rows}, CLASS_ORDER)
    parts = ordered({part for part, _, _ in rows}, PART_ORDER)
    counts = {(part, label): n for part, label, n in rows}
    series = {
        f"{part} ({sum(counts.get((part, lab), 0) for lab in labels)})": [
            counts.get((part, lab), 0) for lab in labels
        ]
        for part in parts
    }
    return _bar_chart(f"Split {split}: paragraphs per label and part", labels, series, "paragraphs")


def split_labels(versions: Sequence[tuple[str, str | None]]) -> dict[tuple[str, str | None], str]:
    """A display name per (split name, content id): the bare name unless it has several versions.

    Two versions of one split name are two experiments, so they get `name@<first 8 hex>`
    (`name@unknown` for runs recorded before adme kept split identities).
    """
    names: dict[str, set] = {}
    for name, content_id in versions:
        names.setdefault(name, set()).add(content_id)
    return {
        (name, cid): name if len(names[name]) == 1 else f"{name}@{(cid or 'unknown')[:8]}"
        for name, cid in versions
    }


def f1_groups(
    rows: Sequence[tuple],
) -> tuple[dict[str, dict[str, tuple[float, float | None]]], dict[str, int], set[str]]:
    """Bars of the per-class F1 figure from plot_per_class_f1 rows.

    Returns (group -> class -> (mean F1, standard error or None), group -> distinct seeds,
    split display names). A group is a method, prefixed by its split version when the figure
    shows several; never two versions of one split name in one group.
    """
    labels = split_labels([(split, cid) for split, cid, *_ in rows])
    splits = set(labels.values())
    groups: dict[str, dict[str, tuple[float, float | None]]] = {}
    seeds: dict[str, int] = {}
    for split, cid, method, cls, n, f1, se, _ in rows:
        name = labels[(split, cid)]
        group = method if len(splits) == 1 else f"{name} / {method}"
        groups.setdefault(group, {})[cls] = (f1, se if n >= 2 else None)
        seeds[group] = max(seeds.get(group, 0), n)
    return groups, seeds, splits


def per_class_f1_figure(db_path: str | Path, runs: str | Sequence[str] | None = None) -> Figure:
    """Mean test F1 per class for each split/method, error bars = standard error over seeds.

    RUNS selects run ids and/or split names (a comma-separated string or a list); None = all.
    """
    selector = runs if runs is None or isinstance(runs, str) else ",".join(runs)
    _, rows = reports.run_query(db_path, "plot_per_class_f1", {"runs": selector})
    if not rows:
        known = choices(db_path, "run")
        if not known:
            raise AdmeError(f"{db_path}: no training runs with test metrics yet (run `adme train`)")
        raise AdmeError(
            f"no test metrics for runs {selector!r}; stored runs: {_listing(known)} "
            f"(or a split name: {_listing(choices(db_path, 'split'))})"
        )
    groups, seeds, splits = f1_groups(rows)
    classes = ordered({row[3] for row in rows}, CLASS_ORDER)
    fig = Figure(figsize=(max(7.0, 1.6 * len(classes) + 2), 5.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(groups)
    x = np.arange(len(classes))
    for i, (group, scores) in enumerate(sorted(groups.items())):
        means = [scores.get(c, (np.nan, None))[0] for c in classes]
        errors = [scores.get(c, (np.nan, None))[1] for c in classes]
        bars = ax.bar(
            x + (i - (len(groups) - 1) / 2) * width,
            means,
            width,
            # no error bar from one seed: matplotlib draws none for NaN
            yerr=None if seeds[group] < 2 else [np.nan if e is None else e for e in errors],
            capsize=3,
            label=f"{group} ({seeds[group]} seed{'s' if seeds[group] != 1 else ''})",
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("class")
    ax.set_ylabel("test F1 (mean ± standard error over seeds)")
    scope = f" — {next(iter(splits))}" if len(splits) == 1 else ""
    ax.set_title(f"Per-class F1 by method{scope}")
    ax.legend(loc="upper left", fontsize=8, ncols=min(len(groups), 3))
    return fig


def confusion_figure(db_path: str | Path, run: str | None = None) -> Figure:
    """One run's test confusion matrix with the count in every cell (default: newest run)."""
    known = choices(db_path, "run")
    if run is None:
        if not known:
            raise AdmeError(f"{db_path}: no training runs yet (run `adme train`)")
        run = known[0]
    _, rows = reports.run_query(db_path, "plot_confusion", {"run_id": run})
    if not rows:
        raise AdmeError(f"no test confusion matrix for run {run!r}; stored runs: {_listing(known)}")
    labels = ordered({t for t, _, _ in rows} | {p for _, p, _ in rows}, CLASS_ORDER)
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for true, pred, n in rows:
        matrix[index[true], index[pred]] = n
    fig = Figure(figsize=(1.1 * len(labels) + 3, 1.0 * len(labels) + 2), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, label="paragraphs")
    threshold = matrix.max() / 2
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > threshold else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    correct = int(np.trace(matrix))
    ax.set_title(f"Run {run}: test confusion ({correct}/{matrix.sum()} correct)")
    return fig


def resolve_model(db_path: str | Path, model: str | Path | None) -> str:
    """A model id from a model folder, a stored model id, or None when only one model labelled."""
    known = choices(db_path, "model")
    if model is None:
        if len(known) == 1:
            return known[0]
        if not known:
            raise AdmeError(f"{db_path}: no predictions stored yet (run `adme label`)")
        raise AdmeError(
            f"several models have predictions, pick one with --model: {_listing(known)}"
        )
    if Path(model).is_dir():
        from adme.inference import identify

        return identify(model)
    return str(model)


def confidence_figure(db_path: str | Path, model: str | Path | None = None) -> Figure:
    """Histogram of one model's prediction confidence, stacked by predicted class."""
    model_id = resolve_model(db_path, model)
    _, rows = reports.run_query(db_path, "plot_confidence", {"model_id": model_id})
    if not rows:
        known = choices(db_path, "model")
        raise AdmeError(f"no predictions by model {model_id!r}; models: {_listing(known)}")
    by_class: dict[str, list[float]] = {}
    for label, confidence in rows:
        by_class.setdefault(label, []).append(confidence)
    labels = ordered(list(by_class), CLASS_ORDER)
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    lowest = min(min(v) for v in by_class.values())
    bins = np.linspace(min(lowest, 1 / max(len(labels), 2)), 1.0, 21)
    ax.hist(
        [by_class[c] for c in labels],
        bins=bins,
        stacked=True,
        label=[f"{c} ({len(by_class[c])})" for c in labels],
    )
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel("paragraphs")
    ax.set_title(f"Prediction confidence of {model_id} ({count(len(rows), 'paragraph')})")
    ax.legend(title="predicted class", fontsize=8)
    return fig


AXIS_TITLES = {
    "ratio": "imbalance ratio (minority / majority)",
    "step": "fraction kept of the cut classes",
    "long-tail": "long-tail mu",
}


def _sweep_line(ax, points: dict[float, tuple], method: str, colour: str) -> None:
    """One method's curve on one panel: mean F1 per value, ± SE band where seeds > 1."""
    if not points:
        return
    xs = sorted(points)
    ax.plot(xs, [points[x][1] for x in xs], "o-", color=colour, label=method, markersize=4)
    banded = [(x, points[x]) for x in xs if points[x][0] > 1 and points[x][2] is not None]
    bx = [x for x, _ in banded]
    mean = np.array([p[1] for _, p in banded])
    se = np.array([p[2] for _, p in banded])
    if len(banded) > 1:
        ax.fill_between(bx, mean - se, mean + se, color=colour, alpha=0.2)
    elif banded:  # a band needs two points: a single one gets an error bar
        ax.errorbar(bx, mean, yerr=se, color=colour, capsize=3)


def sweep_figure(db_path: str | Path, sweep: str | None) -> Figure:
    """A sweep's test F1 against the imbalance: micro, macro and one panel per class.

    One line per method, mean over seeds, with a band of ± one standard error where a point
    has two seeds or more (one seed gives no band: there is no spread to show).
    """
    if not sweep:
        raise UsageError(f"give --sweep NAME; stored sweeps: {_listing(choices(db_path, 'sweep'))}")
    _, rows = reports.run_query(db_path, "sweep_summary", {"sweep": sweep})
    if not rows:
        raise AdmeError(
            f"no finished runs of sweep {sweep!r}; stored sweeps: "
            f"{_listing(choices(db_path, 'sweep'))}"
        )
    axis = rows[0][0]
    curves: dict[tuple[str, str], dict[float, tuple[int, float, float | None]]] = {}
    for _, value, method, cls, seeds, f1, se in rows:
        curves.setdefault((cls, method), {})[value] = (seeds, f1, se)
    classes = ordered({cls for cls, _ in curves} - {"micro", "macro"}, CLASS_ORDER)
    panels = ["micro", "macro", *classes]
    methods = ordered({method for _, method in curves}, METHOD_ORDER)
    values = sorted({row[1] for row in rows})
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    for ax, panel in zip(axes, panels, strict=False):
        for method in methods:
            _sweep_line(ax, curves.get((panel, method), {}), method, colours[method])
        title = {"micro": "micro-F1", "macro": "macro-F1"}.get(panel, f"F1 {panel}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -0.02), min(high, 1.02))
        if len(values) > 1 and values[-1] / values[0] >= 10:
            ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
    seeds = max(r[4] for r in rows)
    axes[0].set_ylabel("test F1")
    fig.supxlabel(AXIS_TITLES.get(axis, axis), fontsize=10)
    handles, _ = axes[0].get_legend_handles_labels()
    n_seeds = {m: max(r[4] for r in rows if r[2] == m) for m in methods}
    labels = [f"{m} ({n_seeds[m]} seed{'s' if n_seeds[m] != 1 else ''})" for m in methods]
    for ax in axes[len(panels) :]:
        ax.axis("off")
    if len(axes) > len(panels):
        axes[-1].legend(handles, labels, loc="center", title="method", fontsize=9)
    else:
        fig.legend(handles, labels, loc="outside right upper", title="method", fontsize=9)
    band = "mean ± SE band" if seeds > 1 else "one seed, no error band"
    fig.suptitle(f"Sweep {sweep}: test F1 against the imbalance ({band})", fontsize=11)
    return fig


# --- adme plot ----------------------------------------------------------------------------


def plot(
    db_path: str | Path,
    name: str,
    output: str | Path,
    *,
    split: str | None = None,
    runs: str | Sequence[str] | None = None,
    run: str | None = None,
    model: str | Path | None = None,
    sweep: str | None = None,
) -> Path:
    """Draw plot NAME from the database and save it to OUTPUT (.png, .svg or .pdf); return it."""
    builders: dict[str, Callable[[], Figure]] = {
        "class-balance": lambda: class_balance_figure(db_path, split),
        "per-class-f1": lambda: per_class_f1_figure(db_path, runs),
        "confusion": lambda: confusion_figure(db_path, run),
        "confidence": lambda: confidence_figure(db_path, model),
        "sweep": lambda: sweep_figure(db_path, sweep),
    }
    if name not in builders:
        raise UsageError(f"unknown plot {name!r}; available: {', '.join(PLOT_NAMES)}")
    output = Path(output)
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise AdmeError(f"{output}: the output must end in {', '.join(IMAGE_SUFFIXES)}")
    figure = builders[name]()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=DPI)
    return output
