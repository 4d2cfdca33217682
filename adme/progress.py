"""The one progress bar of every long step (fetch, download, pre-training, training, labelling).

Bars go to stderr, so stdout stays for data a user may pipe (reports, CSV, JSON).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def step_bar(enabled: bool, unit: str = "items", transient: bool = False) -> Progress:
    """A rich bar of description, bar, done/total (or bytes and speed) and time left.

    `unit` "bytes" shows a download's size and speed; "items" counts steps or labels. A disabled
    bar draws nothing, so callers use it the same way whether or not the user asked for one.
    """
    if unit not in ("items", "bytes"):
        raise ValueError(f"unit must be 'items' or 'bytes', not {unit!r}")
    if unit == "bytes":
        counter = (DownloadColumn(), TransferSpeedColumn())
    else:
        counter = (MofNCompleteColumn(),)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        *counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=transient,
    )
