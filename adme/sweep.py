"""`adme sweep`: the paper's imbalance experiment (F1 against the imbalance) as one command.

A sweep is a grid of cells: every imbalance value (a ratio, a step fraction or a long-tail mu)
x every method x every seed. Each value gets one stored split, named from its parameters so
the same parameters always give the same name (and another sweep with the same split options
reuses it, test part included). Each cell is one `adme train` run, recorded in the usual runs /
metrics / confusion tables and tagged with the sweep's name in the same transaction.

Resuming: a run's rows are written only once it has finished, so the cells already in the
database are exactly the finished ones. A rerun of the same command skips them and trains the
rest; a kill mid-cell loses that cell only and leaves no rows of it. The options every cell
shares are stored with the sweep; a rerun with different ones is refused (it would mix two
experiments in one curve), while more values, methods or seeds may be added.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adme import reports, store, train
from adme.errors import AdmeError, UsageError
from adme.split import CLASS_SETS, check_params, make_split
from adme.wording import count

AXES = {"ratio": "ratio", "step": "fraction", "long-tail": "mu"}  # split method -> its parameter
DEFAULT_OUTPUT = Path("models/sweeps")


@dataclass(frozen=True)
class SweepOptions:
    """What every cell of a sweep shares: the split options and the training options.

    Stored with the sweep; the device and where models are saved are not part of it (a sweep
    may be resumed on another machine).
    """

    axis: str = "ratio"
    classes: str = "five"
    classes_cut: tuple[str, ...] = ()
    split_seed: int = 42
    test_size: float = 0.15
    validation_size: float = 0.1
    allow_duplicates: bool = False
    group_by: str | None = None
    model: str | None = None
    epochs: int = 3
    lr: float = 5e-5
    stage1_epochs: int = 3
    stage1_lr: float = 1e-4
    s: float = 1.0
    max_m: float = 0.5
    beta: float = 0.9999
    drw_epoch: int | None = None
    batch_size: int = 16
    max_length: int = 128

    def params(self) -> dict:
        """The options as the JSON-able dict stored in `sweeps.params`."""
        return {**asdict(self), "classes_cut": sorted(self.classes_cut)}

    def split_params(self, value: float) -> dict:
        """Keyword arguments of `make_split` for the split of one imbalance value."""
        grouped = {"group_by": self.group_by} if self.group_by is not None else {}
        return grouped | {
            "classes": self.classes,
            "method": self.axis,
            "test_size": self.test_size,
            "validation_size": self.validation_size,
            AXES[self.axis]: value,
            "classes_cut": tuple(sorted(self.classes_cut)),
            "seed": self.split_seed,
            "allow_duplicates": self.allow_duplicates,
        }

    def training(self, method: str) -> dict:
        """Keyword arguments of `train.train` for a cell of METHOD (--drw-epoch: drw only)."""
        keys = "model epochs lr stage1_epochs stage1_lr s max_m beta batch_size max_length"
        kwargs = {key: getattr(self, key) for key in keys.split()}
        return kwargs | {"drw_epoch": self.drw_epoch if method == "drw" else None}


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: an imbalance value (its split), a method and a seed."""

    value: float
    split: str
    method: str
    seed: int

    def key(self) -> tuple[str, str, int]:
        """(split, method, seed): how a finished cell is found among the stored runs."""
        return (self.split, self.method, self.seed)

    def label(self, axis: str) -> str:
        """Short text for progress lines, e.g. `ratio=0.1 two-stage seed 42`."""
        return f"{AXES[axis]}={self.value:g} {self.method} seed {self.seed}"


def split_name(options: SweepOptions, value: float) -> str:
    """The stored name of a value's split: readable, plus a digest of all its parameters.

    Same parameters, same name: a rerun (or another sweep with the same split options) finds
    and reuses it; different parameters never share a name.
    """
    params = options.split_params(value)
    digest = hashlib.sha1(
        json.dumps({**params, "classes_cut": list(params["classes_cut"])}, sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{options.axis}-{value:g}-{options.classes}-s{options.split_seed}-{digest}"


def plan_cells(
    options: SweepOptions, values: Sequence[float], methods: Sequence[str], seeds: Sequence[int]
) -> list[Cell]:
    """Every cell, seed by seed: an interrupted sweep has whole curves for its first seeds."""
    return [
        Cell(value, split_name(options, value), method, seed)
        for seed in seeds
        for value in values
        for method in methods
    ]


def check_request(
    name: str,
    options: SweepOptions,
    values: Sequence[float],
    methods: Sequence[str],
    seeds: Sequence[int],
) -> None:
    """Reject a sweep that cannot run, before any split is made or any model loaded."""
    if not name.strip():
        raise UsageError("a sweep needs a non-empty name")
    if options.axis not in AXES:
        raise UsageError(f"imbalance axis {options.axis!r}: expected one of {', '.join(AXES)}")
    if not values:
        raise UsageError("give at least one imbalance value (--ratios, --fractions or --mus)")
    if len(set(values)) != len(values):
        raise UsageError(f"imbalance values repeat: {', '.join(f'{v:g}' for v in values)}")
    if not methods:
        raise UsageError("--methods: give at least one method")
    unknown = [m for m in methods if m not in train.METHODS]
    if unknown:
        raise UsageError(
            f"--methods {', '.join(unknown)}: unknown (choose from {', '.join(train.METHODS)})"
        )
    if len(set(methods)) != len(methods):
        raise UsageError(f"--methods repeat: {', '.join(methods)}")
    if not seeds:
        raise UsageError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds repeat: {', '.join(map(str, seeds))}")
    if options.classes_cut and options.axis != "step":
        raise UsageError("--classes-cut applies to a step sweep (--fractions) only")
    if options.drw_epoch is not None and "drw" not in methods:
        raise UsageError("--drw-epoch applies to the drw method, which --methods does not name")
    for value in values:
        params = options.split_params(value)
        check_params(
            options.classes,
            options.axis,
            options.test_size,
            options.validation_size,
            params.get("ratio"),
            params["classes_cut"],
            params.get("fraction"),
            params.get("mu"),
            options.group_by,
        )
    for method in methods:
        config = train.TrainConfig(
            method=method,
            **{k: v for k, v in options.training(method).items() if k != "model"},
        )
        train.check_config(config, options.model)


def register(db_path: str | Path, name: str, options: SweepOptions) -> bool:
    """Store the sweep's shared options, or check a rerun's match them; True when new.

    A rerun whose shared options differ is refused naming the first options that differ.
    """
    params = options.params()
    con = store.connect(db_path)
    try:
        with store.transaction(con):
            found = con.execute(store.sql_text("queries/sweep_find"), {"sweep": name}).fetchone()
            if found is None:
                con.execute(
                    store.sql_text("queries/sweep_insert"),
                    {"sweep": name, "axis": options.axis, "params": json.dumps(params)},
                )
                return True
    finally:
        con.close()
    stored = json.loads(found[1])
    differ = [key for key in params if stored.get(key) != params[key]]
    if differ:
        what = ", ".join(
            f"--{key.replace('_', '-')} {stored.get(key)} (now {params[key]})" for key in differ[:3]
        )
        raise AdmeError(
            f"sweep {name!r} was started with {what}: rerun it with those options, "
            "or give the new experiment another name"
        )
    return False


def ensure_split(db_path: str | Path, options: SweepOptions, value: float) -> tuple[str, bool]:
    """The stored split of one imbalance value, made now if missing; (name, made now)."""
    name = split_name(options, value)
    con = store.connect(db_path, read_only=True)
    try:
        found = con.execute(store.sql_text("queries/split_params"), {"split": name}).fetchone()
    finally:
        con.close()
    if found is not None:
        stored = json.loads(found[0])
        if stored.get("method") != options.axis or stored.get(AXES[options.axis]) != value:
            raise AdmeError(
                f"split {name!r} exists with other parameters ({found[0]}): remove or rename it"
            )
        return name, False
    make_split(db_path, name, **options.split_params(value))
    return name, True


def done_cells(db_path: str | Path, name: str) -> set[tuple[str, str, int]]:
    """(split, method, seed) of every finished cell of sweep NAME."""
    con = store.connect(db_path, read_only=True)
    try:
        rows = con.execute(store.sql_text("queries/sweep_done_cells"), {"sweep": name}).fetchall()
    finally:
        con.close()
    return {(split, method, int(seed)) for split, method, seed in rows}


def duration_text(seconds: float) -> str:
    """A duration for progress lines: 45s, 12m05s, 3h02m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def eta_seconds(durations: dict[str, list[float]], remaining: Sequence[Cell]) -> float | None:
    """Time left: each remaining cell at the mean time of its method's cells so far.

    A method not measured yet counts at the mean of all measured cells (TF-IDF takes seconds,
    two-stage minutes, so one mean for all would mislead). None before any cell has finished.
    """
    measured = [d for times in durations.values() for d in times]
    if not measured:
        return None
    overall = sum(measured) / len(measured)
    return sum(
        (sum(durations[c.method]) / len(durations[c.method]))
        if durations.get(c.method)
        else overall
        for c in remaining
    )


@dataclass
class SweepSummary:
    """What a sweep did: its cells, how many it trained or skipped, and the F1 table."""

    name: str
    axis: str
    cells: int
    skipped: int
    trained: int
    seconds: float
    rows: list[tuple] = field(default_factory=list)  # sweep_summary report rows

    def table(self) -> list[list[str]]:
        """Header, then one row per value and method: micro, macro and each class's test F1."""
        classes = sorted({row[3] for row in self.rows} - {"micro", "macro"}, key=class_order)
        header = [AXES[self.axis], "method", "seeds", "micro-F1", "macro-F1", *classes]
        out = [header]
        groups: dict[tuple[float, str], dict[str, tuple]] = {}
        for _, value, method, cls, seeds, f1, se in self.rows:
            groups.setdefault((value, method), {})[cls] = (seeds, f1, se)
        for (value, method), scores in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
            seeds = max(n for n, _, _ in scores.values())
            out.append(
                [
                    f"{value:g}",
                    method,
                    str(seeds),
                    *(mean_se_text(scores.get(c)) for c in ("micro", "macro", *classes)),
                ]
            )
        return out

    def markdown(self) -> str:
        """The table as Markdown (for benchmarks/RESULTS.md)."""
        rows = self.table()
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)

    def lines(self) -> list[str]:
        """What the CLI prints at the end: counts, time, and the table."""
        out = [
            f"sweep {self.name!r}: {count(self.cells, 'cell')}, {self.trained} trained now, "
            f"{self.skipped} already done, {duration_text(self.seconds)}",
        ]
        table = self.table()
        if len(table) > 1:
            widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
            out.append("test F1, mean ± SE over seeds:")
            out += [
                "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table
            ]
        return out


def class_order(name: str) -> int:
    """Sort key putting classes in the reading order of the paper (absorption first)."""
    order = (*CLASS_SETS["five"], *CLASS_SETS["binary"])
    return order.index(name) if name in order else len(order)


def mean_se_text(entry: tuple | None) -> str:
    """`0.912 ± 0.013` (no ± for a single seed), or `-` when missing."""
    if entry is None or entry[1] is None:
        return "-"
    _, f1, se = entry
    return f"{f1:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def summary_rows(db_path: str | Path, name: str) -> list[tuple]:
    """Rows of the sweep_summary report for sweep NAME."""
    return reports.run_query(db_path, "sweep_summary", {"sweep": name})[1]


def run_sweep(
    db_path: str | Path,
    name: str,
    options: SweepOptions,
    *,
    values: Sequence[float],
    methods: Sequence[str],
    seeds: Sequence[int],
    output: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> SweepSummary:
    """Build the splits and train every cell not done yet; print a line per cell via ECHO.

    Models go to OUTPUT/NAME/<split>/<method>-s<seed> (default models/sweeps), one folder per
    cell, so a cell redone after a kill overwrites its half-written folder.
    """
    check_request(name, options, values, methods, seeds)
    if not Path(db_path).is_file():
        raise AdmeError(f"{db_path}: database does not exist (run `adme fetch` first)")
    if any(m != "tfidf" for m in methods):
        train.load_encoder(options.model, CLASS_SETS[options.classes])  # fail before any work
    register(db_path, name, options)
    for value in values:
        split, made = ensure_split(db_path, options, value)
        echo(f"split {split}: {'made' if made else 'reused'}")
    cells = plan_cells(options, values, methods, seeds)
    done = done_cells(db_path, name)
    todo = [c for c in cells if c.key() not in done]
    skipped = len(cells) - len(todo)
    echo(
        f"sweep {name!r}: {count(len(cells), 'cell')} ({count(len(values), 'value')} x "
        f"{count(len(methods), 'method')} x {count(len(seeds), 'seed')}), {skipped} already "
        f"done, {len(todo)} to train"
    )
    root = Path(output) if output is not None else DEFAULT_OUTPUT
    start = time.monotonic()
    durations: dict[str, list[float]] = {}
    for i, cell in enumerate(todo):
        began = time.monotonic()
        result = train.train(
            db_path,
            split=cell.split,
            method=cell.method,
            seeds=(cell.seed,),
            output=root / name / cell.split / f"{cell.method}-s{cell.seed}",
            device=device,
            progress=progress,
            sweep=name,
            **options.training(cell.method),
        )
        took = time.monotonic() - began
        durations.setdefault(cell.method, []).append(took)
        test = result.runs[0].scores["test"]
        eta = eta_seconds(durations, todo[i + 1 :])
        echo(
            f"[{skipped + i + 1}/{len(cells)}] {cell.label(options.axis)}: test micro-F1 "
            f"{test.f1('micro'):.3f} macro-F1 {test.f1('macro'):.3f} ({duration_text(took)}); "
            f"elapsed {duration_text(time.monotonic() - start)}, "
            f"ETA {duration_text(eta) if eta is not None else '?'}"
        )
    return SweepSummary(
        name,
        options.axis,
        len(cells),
        skipped,
        len(todo),
        time.monotonic() - start,
        summary_rows(db_path, name),
    )


def sweep(
    db_path: str | Path,
    name: str,
    *,
    ratios: Sequence[float] = (),
    fractions: Sequence[float] = (),
    mus: Sequence[float] = (),
    methods: Sequence[str] = ("vanilla", "ldam", "two-stage"),
    seeds: Sequence[int] = (7, 42, 106),
    output: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
    echo: Callable[[str], None] = print,
    **shared,
) -> SweepSummary:
    """`adme sweep`: pick the axis from which of RATIOS / FRACTIONS / MUS is given, then run.

    SHARED holds the SweepOptions fields other than the axis (model, epochs, classes, ...).
    """
    given = {"ratio": ratios, "step": fractions, "long-tail": mus}
    axes = [axis for axis, values in given.items() if values]
    if len(axes) != 1:
        raise UsageError("give exactly one of --ratios, --fractions (with --classes-cut) or --mus")
    axis = axes[0]
    values = tuple(float(v) for v in given[axis])
    if any(math.isnan(v) for v in values):
        raise UsageError("imbalance values must be numbers, not nan")
    options = SweepOptions(axis=axis, **shared)
    return run_sweep(
        db_path,
        name,
        options,
        values=values,
        methods=tuple(methods),
        seeds=tuple(seeds),
        output=output,
        device=device,
        progress=progress,
        echo=echo,
    )
