"""The one number check behind every option: finite, in range, one readable reason."""

from __future__ import annotations

import math

import pytest

from adme.checks import check_number, number_fault
from adme.errors import UsageError


@pytest.mark.parametrize(
    ("value", "bounds", "fault"),
    [
        (0.5, {"low": 0, "high": 1, "low_open": True}, None),
        (1.0, {"low": 0, "high": 1, "low_open": True}, None),
        (0.0, {"low": 0, "high": 1, "low_open": True}, "must be in (0, 1]"),
        (1.0, {"low": 0, "high": 1, "high_open": True}, "must be in [0, 1)"),
        (-1.0, {"low": 0, "low_open": True}, "must be above 0"),
        (0, {"low": 0}, None),
        (-1, {"low": 0}, "must be 0 or more"),
        (7, {"low": 8}, "must be 8 or more"),
        (2.5, {"high": 2}, "must be 2 or less"),
        (math.nan, {"low": 0, "low_open": True}, "must be a finite number above 0"),
        (math.inf, {"low": 0, "low_open": True}, "must be a finite number above 0"),
        (-math.inf, {}, "must be finite"),
        (math.nan, {"low": 0, "high": 1}, "must be a finite number in [0, 1]"),
    ],
)
def test_number_fault(value, bounds, fault):
    assert number_fault(value, **bounds) == fault


def test_check_number_names_the_option_and_value():
    assert check_number("--lr", 0.1, 0, low_open=True) == 0.1
    with pytest.raises(UsageError, match=r"^--lr nan: must be a finite number above 0$"):
        check_number("--lr", math.nan, 0, low_open=True)
