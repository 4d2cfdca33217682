"""One check for every number a user gives adme: finite, inside its range, one readable message.

The CLI's option callbacks (adme.cli.number_option) and the library functions that take the same
numbers (split, train, pretrain) call this one function, so `--lr nan`, `--rate -1` or
`--test-size 2` are refused alike, as a usage error (exit 2) naming the option and its range,
before any file is opened.
"""

from __future__ import annotations

import math

from adme.errors import UsageError


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def range_text(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> str:
    """The allowed range in words: "above 0", "0 or more", "in (0, 1]", ..."""
    if low is not None and high is not None:
        return (
            f"in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
        )
    if low is not None:
        return f"above {_bound(low)}" if low_open else f"{_bound(low)} or more"
    if high is not None:
        return f"below {_bound(high)}" if high_open else f"{_bound(high)} or less"
    return "a number"


def number_fault(
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> str | None:
    """Why VALUE is refused ("must be in (0, 1]"), or None when it is finite and in range.

    NaN and infinities are always refused: every comparison with NaN is false, so a check
    written as `value <= 0` would let `--lr nan` through to train a model of NaNs.
    """
    allowed = range_text(low, high, low_open=low_open, high_open=high_open)
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number {allowed}" if allowed != "a number" else "must be finite"
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    return f"must be {allowed}" if too_low or too_high else None


def check_number(
    option: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """VALUE when it is finite and in range; else a UsageError "OPTION VALUE: must be ..."."""
    fault = number_fault(value, low, high, low_open=low_open, high_open=high_open)
    if fault:
        raise UsageError(f"{option} {value}: {fault}")
    return value
