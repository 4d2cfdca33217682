"""Typer commands only: parse options, call one library function, print its result.

Nothing here knows how the work is done; every command calls one function of a module that
knows nothing of Typer, so the library is usable (and tested) without the CLI.
"""

from __future__ import annotations

import functools
from pathlib import Path

import typer

from adme import __version__
from adme.errors import AdmeError

app = typer.Typer(
    help="FDA drug labels -> pharmacokinetics paragraphs in DuckDB -> ADME classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DB_OPTION = typer.Option(Path("data/adme.duckdb"), "--db", help="DuckDB file (created if missing).")
CACHE_OPTION = typer.Option(
    Path("data/cache"), "--cache", help="Content-addressed cache of raw SPL XML."
)


def one_line_errors(command):
    """Turn AdmeError into `error: ...` on stderr and exit status 1, and Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AdmeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: run the same command again to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"adme {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """adme: find and classify the ADME paragraphs of FDA drug labels."""


# --- fetch ---

# --- split ---

# --- pretrain ---

# --- train ---

# --- label ---

# --- report ---

# --- plot ---

# --- serve ---
