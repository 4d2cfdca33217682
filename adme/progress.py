"""The progress bar the long steps share (pre-training, labelling): one look, one switch."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn


def step_bar(enabled: bool) -> Progress:
    """A rich bar of description, bar, done/total and time left; draws nothing when disabled."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
