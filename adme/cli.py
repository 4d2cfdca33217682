"""Typer commands only: parse options, call one library function, print its result.

Nothing here knows how the work is done; every command calls one function of a module that
knows nothing of Typer, so the library is usable (and tested) without the CLI.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from adme import __version__
from adme.checks import number_fault
from adme.errors import AdmeError, UsageError, first_line
from adme.precision import PRECISIONS

# adme draws its own progress bars; transformers' per-load and per-save bars would interleave.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Typer's (click's) exception base; Typer vendors click in some versions, so found, not imported.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """The top-level group: Typer's own usage errors read like adme's, one line on stderr.

    An unknown option, a value out of range (`serve --port 99999`) or a missing `--model` print
    `error: <what is wrong> (see adme CMD --help)` and exit 2 instead of a usage box, so every
    error of every command is one `error:` line (README, "Exit codes").
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _ClickException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help
                ctx = getattr(exc, "ctx", None)
                where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
                message = " ".join(exc.format_message().split())
                typer.echo(f"error: {message}{where}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="FDA drug labels -> pharmacokinetics paragraphs in DuckDB -> ADME classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# --- options shared by several commands: each defined once, reused as an annotation -------
# Usage: `db: DbExisting = DEFAULT_DB`. Help text says what the option is for the command family,
# so `--db` on a command that refuses a missing file never claims it is created.
DEFAULT_DB = Path("data/adme.duckdb")


def db_option(help_text: str) -> object:
    """The --db option with the help a command family needs (the annotation of its `db`)."""
    return Annotated[Path, typer.Option("--db", metavar="FILE", help=help_text)]


DbExisting = db_option("DuckDB file; it must exist (adme fetch makes it).")
DbCreated = db_option("DuckDB file; created if missing.")
Cache = Annotated[
    Path,
    typer.Option("--cache", metavar="FOLDER", help="Content-addressed cache of raw SPL XML."),
]
TrainedModel = Annotated[
    Path,
    typer.Option(
        "--model",
        "-m",
        metavar="FOLDER",
        help="Model folder made by adme train (BERT or TF-IDF; its adme.json says which).",
    ),
]
BaseModel = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="FOLDER|HUB_ID",
        help="Encoder to start from: a local model folder, or a Hugging Face hub id (org/name) "
        "when no such folder exists. A path-like value (./x, /x, ~/x, a/b/c, or models/x "
        "beside a models/ folder) must be a folder; with HF_HUB_OFFLINE=1 a hub id must be in "
        "the local hub cache. Either way a wrong value fails at once, without hub retries.",
    ),
]
Device = Annotated[
    str,
    typer.Option("--device", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N."),
]
Progress = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
]
Seed = Annotated[
    int, typer.Option("--seed", min=0, help="Seed of every random choice; same seed, same result.")
]
MaxLength = Annotated[
    int,
    typer.Option(
        "--max-length", min=8, help="Tokens kept per paragraph (longer ones are truncated)."
    ),
]
ModelMaxLength = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        min=8,
        help="Tokens kept per paragraph (longer ones are truncated). Default: what the model "
        "was trained with (its adme.json; 128 for folders without one).",
    ),
]

# adme report and adme sql: the same three options for binding and writing rows.
SqlParams = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="KEY=VALUE",
        help="Bound to $KEY in the SQL (repeatable); a report file's declared defaults apply "
        "to what is not given.",
    ),
]
SqlFormat = Annotated[
    str,
    typer.Option("--format", "-f", help="table (terminal), csv, json or parquet (needs --output)."),
]
SqlOutput = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write to this file instead of stdout."),
]


def precision_choice(value: str) -> str:
    """Typer callback: --precision must be one of adme.precision.PRECISIONS."""
    if value not in PRECISIONS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(PRECISIONS)}")
    return value


# adme label, serve and evaluate: how the one inference path (adme.inference) runs a BERT model
Precision = Annotated[
    str,
    typer.Option(
        "--precision",
        metavar="|".join(PRECISIONS).upper(),
        callback=precision_choice,
        help="How a BERT model computes. auto: on the CPU bf16 where the CPU has native bf16 "
        "(AMX, AVX512-BF16), else int8 Linear layers (faster; the full model's label on "
        ">= 99.5% of paragraphs, see benchmarks/RESULTS.md, but int8 scales a batch's "
        "activations together, so a paragraph's probabilities, and ~1% of labels, can change "
        "with --batch-size and its batch-mates); on a GPU the usual path. full: the exact "
        "full-precision model, the same probabilities whatever the batch. int8, bf16: those, "
        "on the CPU. TF-IDF ignores it.",
    ),
]


def number_option(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
):
    """Typer callback for a number option: finite and in range, else a usage error (exit 2).

    Every float option uses it (whole-number options use Typer's min/max): one check,
    adme.checks.number_fault, also used by the library, so `--rate nan`, `--lr inf` and
    `--beta 1` are refused alike and read alike. An option not given (None) passes.
    """

    def callback(value: float | None) -> float | None:
        if value is not None:
            fault = number_fault(value, low, high, low_open=low_open, high_open=high_open)
            if fault:
                raise typer.BadParameter(f"{value}: {fault}")
        return value

    return callback


positive = number_option(0, low_open=True)


def one_line_errors(command):
    """Print adme's errors as one `error: ...` line: exit 1, or 2 for usage; Ctrl-C exits 130.

    The exit-code rule of every command: 2 when the command line itself is wrong (Typer's own
    checks and adme's UsageError), 1 when the data, a file (an OSError too), the network or the
    run fails,
    130 on Ctrl-C (everything committed so far is kept; run the command again to resume).
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UsageError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except AdmeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:  # a file adme cannot read or write (a folder, no permission, ...)
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or first_line(exc)}", err=True)
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
@app.command()
@one_line_errors
def fetch(
    from_path: Path = typer.Option(
        None,
        "--from",
        metavar="PATH",
        help="Read labels from disk instead of DailyMed: one SPL XML, a folder of XML, a DailyMed "
        "release ZIP (ZIP of inner ZIPs) or a folder of inner ZIPs.",
    ),
    drug: str = typer.Option(None, "--drug", help="DailyMed: labels whose drug name matches."),
    unii: str = typer.Option(
        None,
        "--unii",
        help="DailyMed: labels with this ingredient UNII (e.g. 57Y76R9ATQ, naproxen). DailyMed's "
        "label list filters by drug name, UNII, NDC, set id, publication date, RxCUI, "
        "application number and labeler; adme offers the first five.",
    ),
    ndc: str = typer.Option(
        None, "--ndc", help="DailyMed: labels with this product or package NDC (e.g. 0071-0155)."
    ),
    setid: list[str] = typer.Option(
        [], "--setid", help="DailyMed: this label set id (repeatable)."
    ),
    since: str = typer.Option(
        None,
        "--since",
        help="DailyMed: labels published on or after YYYY-MM-DD; --updates: updates from that "
        "day on.",
    ),
    doctype: str = typer.Option(
        "34391-3", "--doctype", help="DailyMed: LOINC document type (34391-3: human Rx label)."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="DailyMed: stop after N listed labels."),
    all_versions: bool = typer.Option(
        False, "--all-versions", help="DailyMed: every version of each label, not just the newest."
    ),
    base_url: str = typer.Option(
        "https://dailymed.nlm.nih.gov/dailymed/services/v2/",
        "--base-url",
        help="DailyMed web-service base URL (getFile.cfm is found beside it).",
    ),
    workers: int = typer.Option(
        4, "--workers", min=1, help="DailyMed: parallel downloads (threads sharing one session)."
    ),
    rate: float = typer.Option(
        2.0,
        "--rate",
        callback=positive,
        help="DailyMed: at most this many requests per second.",
    ),
    timeout: float = typer.Option(
        60.0,
        "--timeout",
        callback=positive,
        help="DailyMed: seconds to wait for an answer before retrying.",
    ),
    retries: int = typer.Option(
        5, "--retries", min=0, help="DailyMed: retries on 429, 5xx and timeouts, with backoff."
    ),
    keep_xml: bool = typer.Option(
        False,
        "--keep-xml",
        help="--from: also copy every label's XML into --cache (off by default: the input is "
        "already on disk). DailyMed labels are always cached, so a re-run downloads nothing.",
    ),
    threads: int = typer.Option(
        min(4, os.cpu_count() or 1),  # adme.fetch.DEFAULT_THREADS, without importing it
        "--threads",
        min=1,
        help="--from: threads parsing and extracting labels (lxml parses without the GIL); "
        "1: all on one thread. Rows are stored in input order either way.",
    ),
    parse_workers: int = typer.Option(
        None,
        "--parse-workers",
        min=0,
        help="--from and releases: processes parsing labels instead of threads (0: use "
        "--threads). Default: up to 4 processes for inputs of 256 MB or more, else threads.",
        show_default=False,
    ),
    release: str = typer.Option(
        None,
        "--release",
        help="Download and ingest a DailyMed bulk release, e.g. human-rx, found on the SPL "
        "resources page (--release-url); parts already applied are skipped, cut downloads resume.",
    ),
    parts: str = typer.Option(
        None, "--parts", help="--release: only these parts, e.g. 1,3 (default: every part)."
    ),
    updates: bool = typer.Option(
        False,
        "--updates",
        help="Apply the update ZIPs (monthly, weekly, daily) newer than the database, oldest "
        "first (from --since when given); prescription labels only.",
    ),
    release_url: str = typer.Option(
        None,
        "--release-url",
        help="--release/--updates: the page linking the files (default: DailyMed's SPL "
        "resources page, https://dailymed.nlm.nih.gov/dailymed/spl-resources-all-drug-labels.cfm).",
        show_default=False,
    ),
    keep_download: bool = typer.Option(
        False,
        "--keep-download",
        help="--release/--updates: keep the downloaded ZIPs in --cache/releases (GBs each; "
        "by default each is deleted once ingested).",
    ),
    sections: bool = typer.Option(
        False,
        "--sections",
        help="Also store every section's text (the `sections` table), for `adme pretrain "
        "--corpus sections` and whole-label queries. Off by default: it doubles the ingest "
        "time and most of the database. Rerun with it to fill in documents stored without.",
    ),
    reparse: bool = typer.Option(
        False,
        "--reparse",
        help="Only read the products and ingredients of documents an older adme stored (with "
        "--sections: also the sections of documents stored without), from --cache or the file "
        "they came from (paragraphs and predictions stay); lists those whose XML is gone. "
        "Rerunning the same --from does the same for its documents.",
    ),
    batch_size: int = typer.Option(
        100,
        "--batch-size",
        min=1,
        help="Documents per transaction (a kill loses only the batch in progress).",
    ),
    progress: Progress = True,
    db: DbCreated = DEFAULT_DB,
    cache: Cache = Path("data/cache"),
) -> None:
    """Fetch SPL labels (DailyMed or disk) into the database; rejects go to stderr, exit 1."""
    from adme.fetch import fetch as run_fetch

    if reparse:
        from adme.reparse import reparse

        given = {"--from": from_path, "--drug": drug, "--unii": unii, "--ndc": ndc}
        given.update(
            {"--setid": setid, "--since": since, "--release": release, "--updates": updates}
        )
        done = reparse(db, cache, [flag for flag, value in given.items() if value], sections)
        for set_id, source in done.missing:
            typer.echo(f"no XML: {set_id} ({source or 'no source recorded'})", err=True)
        for source, fault in done.failed:
            typer.echo(f"rejected: {source}: {fault}", err=True)
        typer.echo(done.line())
        return

    summary = run_fetch(
        db,
        cache,
        from_path=from_path,
        progress=progress,
        batch_size=batch_size,
        keep_xml=keep_xml,
        threads=threads,
        parse_workers=parse_workers,
        release=release,
        parts=parts,
        updates=updates,
        release_url=release_url,
        keep_download=keep_download,
        sections=sections,
        drug=drug,
        unii=unii,
        ndc=ndc,
        setids=tuple(setid),
        since=since,
        doctype=doctype,
        limit=limit,
        all_versions=all_versions,
        base_url=base_url,
        workers=workers,
        rate=rate,
        read_timeout=timeout,
        retries=retries,
    )
    for source, reason in summary.rejects:
        typer.echo(f"rejected: {source}: {reason}", err=True)
    typer.echo(summary.line())
    if summary.rejects:
        raise typer.Exit(1)


# --- merge ---
@app.command(
    help="Merge part DuckDB files into --db: documents (with their products), paragraphs, "
    "rejects and predictions. "
    "Each part is attached read-only and copied in one transaction; rows already stored are "
    "skipped, so merging again changes nothing. Splits, runs and metrics are per-experiment "
    "and are NOT merged: make splits and train on the merged file.",
    short_help="Merge part DuckDB files, each ingested by its own process, into --db.",
)
@one_line_errors
def merge(
    parts: list[Path] = typer.Argument(
        ..., help="Part files to merge, each written by its own `adme fetch --db PART.duckdb`."
    ),
    db: DbCreated = DEFAULT_DB,
) -> None:
    """Merge part DuckDB files into --db, reviews included (splits, runs and metrics are not
    merged)."""
    from adme.merge import merge_parts

    typer.echo(merge_parts(db, parts).line())


# --- split ---
@app.command()
@one_line_errors
def split(
    name: str = typer.Argument(..., help="Name to store the split under (adme train --split)."),
    classes: str = typer.Option(
        "five",
        "--classes",
        help="five (absorption, distribution, metabolism, excretion, other) or binary "
        "(adme vs other).",
    ),
    method: str = typer.Option(
        "natural",
        "--method",
        help="natural (stratified as is), ratio (--ratio), step (--classes-cut, --fraction) or "
        "long-tail (--mu); the imbalance is applied to train and validation only.",
    ),
    test_size: float = typer.Option(
        0.15, "--test-size", help="Fraction of each class held out as the untouched test part."
    ),
    validation_size: float = typer.Option(
        0.1,
        "--validation-size",
        help="Fraction of what is left (after imbalancing) held out for tuning; 0 for none.",
    ),
    ratio: float = typer.Option(
        None,
        "--ratio",
        help="ratio method: every class but the largest is cut to RATIO x the largest "
        "(binary: minority/majority, as the paper).",
    ),
    classes_cut: list[str] = typer.Option(
        [], "--classes-cut", help="step method: a class to cut (repeatable)."
    ),
    fraction: float = typer.Option(
        None, "--fraction", help="step method: fraction of its size each cut class keeps."
    ),
    mu: float = typer.Option(
        None, "--mu", help="long-tail method: the i-th largest class keeps N_max x MU**i."
    ),
    seed: Seed = 42,
    allow_duplicates: bool = typer.Option(
        False,
        "--allow-duplicates",
        help="Split paragraphs independently, so copies of one text may sit on both sides "
        "(the paper's behaviour). Default: copies are kept together.",
    ),
    group_by: str = typer.Option(
        None,
        "--group-by",
        help="drug or set_id: every paragraph of one drug (its active ingredients when "
        "products are stored, else the name in its title) or of one label on one side, "
        "groups chosen to keep each class near --test-size. Measures unseen drugs.",
    ),
    replace: bool = typer.Option(False, "--replace", help="Rebuild a split that already exists."),
    reviews: bool = typer.Option(
        False,
        "--reviews",
        help="Use reviewed labels (adme review import, the review page): they override the "
        "rule label and add paragraphs the rule left unlabelled.",
    ),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Store a named, reproducible, leak-free train/validation/test split; print its counts."""
    from adme.split import make_split

    summary = make_split(
        db,
        name,
        classes=classes,
        method=method,
        test_size=test_size,
        validation_size=validation_size,
        ratio=ratio,
        classes_cut=tuple(classes_cut),
        fraction=fraction,
        mu=mu,
        seed=seed,
        allow_duplicates=allow_duplicates,
        group_by=group_by,
        replace=replace,
        reviews=reviews,
    )
    typer.echo("\n".join(summary.lines()))


# --- pretrain ---
@app.command()
@one_line_errors
def pretrain(
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FOLDER", help="Folder to save the model in.")
    ] = (Path("models/adme-bert-small")),
    model: BaseModel = None,
    vocab_size: int = typer.Option(
        8000, "--vocab-size", min=1, help="WordPiece vocabulary size (new model)."
    ),
    hidden_size: int = typer.Option(256, "--hidden-size", min=1, help="Hidden size (new model)."),
    num_layers: int = typer.Option(4, "--num-layers", min=1, help="Encoder layers (new model)."),
    num_heads: int = typer.Option(4, "--num-heads", min=1, help="Attention heads (new model)."),
    epochs: int = typer.Option(1, "--epochs", min=1, help="Passes over the corpus."),
    max_steps: int = typer.Option(
        None,
        "--max-steps",
        min=1,
        help="Stop after this many optimiser steps (overrides --epochs).",
    ),
    lr: float = typer.Option(
        5e-4, "--lr", callback=positive, help="Peak AdamW learning rate (linear decay)."
    ),
    mlm_probability: float = typer.Option(
        0.15,
        "--mlm-probability",
        callback=number_option(0, 1, low_open=True, high_open=True),
        help="Fraction of tokens masked for prediction, in (0, 1).",
    ),
    seed: Seed = 42,
    texts_limit: int = typer.Option(
        None, "--texts-limit", min=1, help="Use at most this many distinct paragraph texts."
    ),
    exclude_split: str = typer.Option(
        None,
        "--exclude-split",
        help="Leave out this split's test texts (every copy), so the model is later scored on "
        "paragraphs it has never read; for a --group-by split, every section of its test "
        "documents too.",
    ),
    corpus: str = typer.Option(
        "paragraphs",
        "--corpus",
        help="paragraphs (the pharmacokinetics paragraphs) or sections (those plus every line "
        "of the labels' other sections, the `sections` table: ~10x the text).",
    ),
    checkpoint_steps: str = typer.Option(
        "",
        "--checkpoint-steps",
        help="Also save the model after these steps (e.g. 250,500,1000) in "
        "OUTPUT/checkpoint-STEP, to see what more pre-training buys.",
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Paragraphs per step."),
    max_length: MaxLength = 128,
    device: Device = "auto",
    progress: Progress = True,
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Masked-language pre-train a small BERT (or continue one) on the stored label texts.

    Without --model a new WordPiece tokenizer and small BERT are trained from scratch; with it,
    that encoder's masked-language pre-training is continued.
    """
    from adme.pretrain import pretrain as run_pretrain

    summary = run_pretrain(
        db,
        output,
        model=model,
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        max_length=max_length,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        mlm_probability=mlm_probability,
        seed=seed,
        device=device,
        texts_limit=texts_limit,
        exclude_split=exclude_split,
        corpus=corpus,
        checkpoint_steps=(
            _number_list(checkpoint_steps, int, "--checkpoint-steps") if checkpoint_steps else ()
        ),
        progress=progress,
    )
    typer.echo("\n".join(summary.lines()))


# --- train ---
def _number_list(text: str, kind: type, option: str) -> tuple:
    """Parse "7,42,106" style option values into a tuple of distinct, non-negative numbers.

    A usage error (exit 2) names the option and the value that is not a number, negative or
    given twice.
    """
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = kind(part)
        except ValueError:
            noun = "whole numbers" if kind is int else "numbers"
            raise UsageError(
                f"{option} {text}: {part!r} is not a number (comma-separated {noun})"
            ) from None
        fault = number_fault(value, 0, low_open=kind is float)  # lrs above 0; seeds 0 or more
        if fault:
            raise UsageError(f"{option} {text}: {part} {fault}")
        if value in values:
            raise UsageError(f"{option} {text}: {part} is given twice")
        values.append(value)
    if not values:
        raise UsageError(f"{option}: give at least one value")
    return tuple(values)


@app.command()
@one_line_errors
def train(
    split: str = typer.Option(..., "--split", help="Stored split to train on (adme split)."),
    model: BaseModel = None,
    method: str = typer.Option(
        "two-stage",
        "--method",
        help="two-stage (LDAM on the last layer, then plain fine-tuning), vanilla "
        "(cross-entropy), ldam, drw (LDAM, re-weighting from --drw-epoch) or tfidf "
        "(TF-IDF + logistic regression baseline).",
    ),
    two_stage: bool = typer.Option(False, "--two-stage", help="Short for --method two-stage."),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FOLDER",
            help="Model folder (default models/<run_id>); with several seeds, one sub-folder each.",
        ),
    ] = None,
    seeds: str = typer.Option(
        "42", "--seeds", help="Comma-separated seeds, one run each (the paper: 7,42,106,190,191)."
    ),
    epochs: int = typer.Option(
        3, "--epochs", min=1, help="Epochs of vanilla / ldam / drw / stage 2."
    ),
    lr: float = typer.Option(
        5e-5, "--lr", callback=positive, help="Learning rate of vanilla / ldam / drw / stage 2."
    ),
    stage1_epochs: int = typer.Option(
        3, "--stage1-epochs", min=1, help="Two-stage: stage 1 epochs."
    ),
    stage1_lr: float = typer.Option(
        1e-4, "--stage1-lr", callback=positive, help="Two-stage: stage 1 learning rate."
    ),
    stage1_layers: int = typer.Option(
        1,
        "--stage1-layers",
        min=0,
        help="Two-stage: top encoder layers stage 1 trains with the head (the paper: 1; 0: "
        "head only). A small encoder pre-trained on little text may need more.",
    ),
    s: float = typer.Option(
        1.0,
        "--s",
        callback=positive,
        help="LDAM logit scale: 1 for the plain linear head (30 assumes a cosine head).",
    ),
    max_m: float = typer.Option(
        0.5, "--max-m", callback=number_option(0), help="LDAM margin of the rarest class."
    ),
    beta: float = typer.Option(
        0.9999,
        "--beta",
        callback=number_option(0, 1, high_open=True),
        help="Effective-number class-weight beta, in [0, 1).",
    ),
    drw_epoch: int = typer.Option(
        None,
        "--drw-epoch",
        min=1,
        help="--method drw only: epoch (from 1) at which re-weighting starts (default: the "
        "last). In --grid, a candidate shorter than this re-weights its last epoch.",
    ),
    grid: bool = typer.Option(
        False,
        "--grid",
        help="Tune epochs x lr of the last stage on the validation part (test scored once).",
    ),
    grid_epochs: str = typer.Option("1,2,3,4,5,6", "--grid-epochs", help="Epochs tried by --grid."),
    grid_lrs: str = typer.Option(
        "1e-5,5e-5,1e-4,5e-4", "--grid-lrs", help="Learning rates tried by --grid."
    ),
    batch_size: int = typer.Option(
        16, "--batch-size", min=1, help="Global batch size (split across torchrun processes)."
    ),
    max_length: MaxLength = 128,
    device: Device = "auto",
    progress: Progress = True,
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Fine-tune a classifier on a split, per seed; save it and record its scores in the DB."""
    from adme.train import train as run_train

    summary = run_train(
        db,
        split=split,
        model=model,
        method="two-stage" if two_stage else method,
        output=output,
        seeds=_number_list(seeds, int, "--seeds"),
        epochs=epochs,
        lr=lr,
        stage1_epochs=stage1_epochs,
        stage1_lr=stage1_lr,
        stage1_layers=stage1_layers,
        s=s,
        max_m=max_m,
        beta=beta,
        drw_epoch=drw_epoch,
        batch_size=batch_size,
        max_length=max_length,
        grid=grid,
        grid_epochs=_number_list(grid_epochs, int, "--grid-epochs"),
        grid_lrs=_number_list(grid_lrs, float, "--grid-lrs"),
        device=device,
        progress=progress,
    )
    typer.echo(summary.render())
    if warning := summary.baseline_warning():
        typer.echo(warning, err=True)


# --- ensemble ---
@app.command()
@one_line_errors
def ensemble(
    tfidf: Path = typer.Option(
        ..., "--tfidf", metavar="FOLDER", help="TF-IDF model folder (adme train --method tfidf)."
    ),
    bert: Path = typer.Option(
        ..., "--bert", metavar="FOLDER", help="BERT model folder trained on the same split."
    ),
    split: str = typer.Option(
        ..., "--split", help="The split both were trained on; its validation part picks the weight."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", metavar="FOLDER", help="Ensemble folder to write (holds copies)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Paragraphs per forward pass."),
    device: Device = "auto",
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Mix a TF-IDF and a BERT model into one folder; the weight is chosen on validation."""
    from adme.ensemble import build_ensemble

    summary = build_ensemble(
        db, tfidf=tfidf, bert=bert, split=split, output=output, device=device, batch_size=batch_size
    )
    typer.echo("\n".join(summary.lines()))


# --- sweep ---
@app.command()
@one_line_errors
def sweep(
    name: str = typer.Argument(..., help="Name of the sweep (its runs are tagged with it)."),
    ratios: str = typer.Option(
        None, "--ratios", help="Ratio axis: comma-separated imbalance ratios, e.g. 1,0.1,0.05."
    ),
    fractions: str = typer.Option(
        None, "--fractions", help="Step axis: fractions the --classes-cut classes keep."
    ),
    mus: str = typer.Option(None, "--mus", help="Long-tail axis: comma-separated mu values."),
    classes_cut: list[str] = typer.Option(
        [], "--classes-cut", help="Step axis: a class to cut (repeatable)."
    ),
    methods: str = typer.Option(
        "vanilla,ldam,two-stage",
        "--methods",
        help="Comma-separated methods: vanilla, ldam, two-stage, drw, tfidf.",
    ),
    seeds: str = typer.Option("7,42,106", "--seeds", help="Comma-separated seeds, one run each."),
    model: BaseModel = None,
    classes: str = typer.Option("five", "--classes", help="five or binary (adme vs other)."),
    split_seed: int = typer.Option(
        42, "--split-seed", min=0, help="Seed of the splits' random choices."
    ),
    test_size: float = typer.Option(0.15, "--test-size", help="Fraction held out as test."),
    validation_size: float = typer.Option(
        0.1, "--validation-size", help="Fraction of the rest held out for validation."
    ),
    allow_duplicates: bool = typer.Option(
        False, "--allow-duplicates", help="Let copies of one text sit on both sides."
    ),
    group_by: str = typer.Option(
        None, "--group-by", help="drug or set_id: split by whole groups (as adme split)."
    ),
    epochs: int = typer.Option(
        3, "--epochs", min=1, help="Epochs of vanilla / ldam / drw / stage 2."
    ),
    lr: float = typer.Option(
        5e-5, "--lr", callback=positive, help="Learning rate of vanilla / ldam / drw / stage 2."
    ),
    stage1_epochs: int = typer.Option(
        3, "--stage1-epochs", min=1, help="Two-stage: stage 1 epochs."
    ),
    stage1_lr: float = typer.Option(
        1e-4, "--stage1-lr", callback=positive, help="Two-stage: stage 1 learning rate."
    ),
    s: float = typer.Option(1.0, "--s", callback=positive, help="LDAM logit scale."),
    max_m: float = typer.Option(
        0.5, "--max-m", callback=number_option(0), help="LDAM margin of the rarest class."
    ),
    beta: float = typer.Option(
        0.9999,
        "--beta",
        callback=number_option(0, 1, high_open=True),
        help="Effective-number class-weight beta, in [0, 1).",
    ),
    drw_epoch: int = typer.Option(
        None, "--drw-epoch", min=1, help="drw: epoch re-weighting starts."
    ),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        metavar="FOLDER",
        help="Root of the model folders (default models/sweeps).",
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Global batch size."),
    max_length: MaxLength = 128,
    device: Device = "auto",
    progress: Progress = True,
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Train every imbalance value x method x seed of the paper's experiment; resumable."""
    from adme.sweep import sweep as run_sweep

    def numbers(text: str | None, kind: type, option: str) -> tuple:
        return () if text is None else _number_list(text, kind, option)

    summary = run_sweep(
        db,
        name,
        ratios=numbers(ratios, float, "--ratios"),
        fractions=numbers(fractions, float, "--fractions"),
        mus=numbers(mus, float, "--mus"),
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        seeds=_number_list(seeds, int, "--seeds"),
        output=output,
        device=device,
        progress=progress,
        echo=typer.echo,
        classes_cut=tuple(classes_cut),
        model=model,
        classes=classes,
        split_seed=split_seed,
        test_size=test_size,
        validation_size=validation_size,
        allow_duplicates=allow_duplicates,
        group_by=group_by,
        epochs=epochs,
        lr=lr,
        stage1_epochs=stage1_epochs,
        stage1_lr=stage1_lr,
        s=s,
        max_m=max_m,
        beta=beta,
        drw_epoch=drw_epoch,
        batch_size=batch_size,
        max_length=max_length,
    )
    typer.echo("\n".join(summary.lines()))


# --- label ---
@app.command()
@one_line_errors
def label(
    path: Path = typer.Argument(
        None,
        help="New labels to store then classify: a folder of XML, a folder of inner ZIPs, or a "
        "bulk release ZIP (as `adme fetch --from`). Omit to classify every stored paragraph "
        "this model has not predicted yet.",
    ),
    model: TrainedModel = ...,
    relabel: bool = typer.Option(
        False, "--relabel", help="Replace this model's stored predictions instead of skipping."
    ),
    tokenizer_workers: int = typer.Option(
        None,
        "--tokenizer-workers",
        min=0,
        help="Tokeniser processes feeding the model (0: in-process). Default: 2 on a GPU, "
        "0 on the CPU, where they would compete with the model for cores.",
    ),
    workers: int = typer.Option(
        None, "--workers", min=0, hidden=True, help="Deprecated name of --tokenizer-workers."
    ),
    batch_size: int = typer.Option(
        64, "--batch-size", min=1, help="Paragraphs per forward pass (batched by length)."
    ),
    max_length: ModelMaxLength = None,
    device: Device = "auto",
    precision: Precision = "auto",
    progress: Progress = True,
    db: db_option(
        "DuckDB file: created if missing when PATH gives labels to store; without PATH "
        "it must exist."
    ) = DEFAULT_DB,
    cache: Cache = Path("data/cache"),
) -> None:
    """Store new labels and write one prediction per paragraph and model into the database."""
    from adme.label import label as run_label

    if workers is not None:
        typer.echo("warning: label --workers is deprecated, use --tokenizer-workers", err=True)
        if tokenizer_workers is None:
            tokenizer_workers = workers

    summary = run_label(
        db,
        model,
        path,
        cache_dir=cache,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        relabel=relabel,
        workers=tokenizer_workers,
        precision=precision,
        progress=progress,
    )
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(summary.line())


# --- evaluate ---
@app.command()
@one_line_errors
def evaluate(
    model: TrainedModel = ...,
    gold: Path = typer.Option(
        None,
        "--gold",
        metavar="FILE",
        help="JSONL of hand labels (fields text, label, text_hash; null labels are skipped), "
        "e.g. ../shared/gold/unlabelled_gold.jsonl.",
    ),
    on: str = typer.Option(
        None,
        "--on",
        help="What else to score on: split:NAME (that split's test part) or reviews (every "
        "reviewed text, with the label in force).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Paragraphs per forward pass."),
    max_length: ModelMaxLength = None,
    device: Device = "auto",
    precision: Precision = "auto",
    db: db_option(
        "DuckDB file the run is stored in: created if missing with --gold; --on reads "
        "it, so there it must exist."
    ) = DEFAULT_DB,
) -> None:
    """Score a model on hand labels or a split's test part; store the result as a run."""
    from adme.evaluate import evaluate as run_evaluate

    if (gold is None) == (on is None):
        raise UsageError("give exactly one of --gold FILE or --on split:NAME")
    summary = run_evaluate(
        db,
        model,
        f"gold:{gold}" if gold is not None else on,
        device=device,
        batch_size=batch_size,
        max_length=max_length,
        precision=precision,
    )
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo("\n".join(summary.lines()))


# --- report ---
@app.command()
@one_line_errors
def report(
    name: str = typer.Argument(None, help="Report to run: a file sql/NAME.sql (see --list)."),
    param: SqlParams = None,
    fmt: SqlFormat = "table",
    output: SqlOutput = None,
    list_: bool = typer.Option(False, "--list", help="List every report with its description."),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Run a SQL report from sql/ against the database and print or export its rows."""
    from adme import reports, store

    if list_:
        for report_name, text in reports.list_reports():
            params = reports.param_summary(store.sql_text(report_name))
            typer.echo(f"{report_name:24s} {text}" + (f" {params}" if params else ""))
        return
    if name is None:
        raise UsageError("give a report NAME, or --list to see them")
    result = reports.export_report(db, name, reports.parse_param_pairs(param or []), fmt, output)
    _print_result(result, output)


# --- sql ---
@app.command("sql")
@one_line_errors
def sql_command(
    query: str = typer.Argument(
        ...,
        metavar="FILE|QUERY",
        help="A .sql file (e.g. sql/class_balance.sql) or a query in quotes.",
    ),
    param: SqlParams = None,
    fmt: SqlFormat = "table",
    output: SqlOutput = None,
    write: bool = typer.Option(
        False, "--write", help="Open the database read-write (default: read-only)."
    ),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Run any SQL file or query on the database with adme's own DuckDB and print its rows.

    The route that always reads the file: a standalone duckdb CLI must read the storage format
    of the duckdb Python package adme installed. Several statements: the last one's rows.
    """
    from adme import reports

    result = reports.export_sql(
        db, query, reports.parse_param_pairs(param or []), fmt, output, write
    )
    _print_result(result, output)


def _print_result(result, output: Path | None) -> None:
    """Print a report or query result: a rich table to the terminal, text as it is."""
    from rich.console import Console

    if isinstance(result, str) and output is None:
        typer.echo(result, nl=False)
    elif isinstance(result, str):
        typer.echo(result)
    else:
        Console(width=None if sys.stdout.isatty() else 200).print(result)


# --- plot ---
@app.command()
@one_line_errors
def plot(
    name: str = typer.Argument(
        ..., help="class-balance, per-class-f1, confusion, confidence or sweep."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", metavar="FILE", help="Image file to write (.png, .svg or .pdf)."
    ),
    split: str = typer.Option(
        None, "--split", help="class-balance: show this split's parts side by side."
    ),
    runs: str = typer.Option(
        None,
        "--runs",
        help="per-class-f1: comma-separated run ids and/or split names (default: every run).",
    ),
    run: str = typer.Option(None, "--run", help="confusion: the run to show (default: newest)."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        metavar="FOLDER|MODEL_ID",
        help="confidence: model folder or model id (default: the only model with predictions).",
    ),
    sweep: str = typer.Option(None, "--sweep", help="sweep: the sweep to draw (adme sweep NAME)."),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Draw a figure (class balance, per-class F1, confusion, confidence, sweep) to a file."""
    from adme import plots

    path = plots.plot(db, name, output, split=split, runs=runs, run=run, model=model, sweep=sweep)
    typer.echo(f"wrote {path}")


# --- review ---
review_app = typer.Typer(
    help="Human reviews of paragraph labels: import a CSV/JSONL of answers, export them.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


@review_app.command("import")
@one_line_errors
def review_import(
    file: Path = typer.Argument(
        ...,
        help="CSV or JSONL with a `label` column: a review_queue / disagreements export filled "
        "in, a gold-style file (text_hash, text, label) or an `adme review export`. Rows match "
        "by paragraph_id, else text_hash, else normalised text; blank labels are skipped.",
    ),
    reviewer: str = typer.Option(
        None, "--reviewer", help="Name for rows without a reviewer column (default: login name)."
    ),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Store reviewed labels from a file; refused rows go to stderr by line number, exit 1."""
    from adme.reviews import import_reviews

    summary = import_reviews(db, file, reviewer)
    for line in summary.refusal_lines():
        typer.echo(line, err=True)
    typer.echo(summary.line())
    if summary.refused:
        raise typer.Exit(1)


@review_app.command("export")
@one_line_errors
def review_export(
    output: Path = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
    ),
    fmt: str = typer.Option(
        None, "--format", "-f", help="csv or jsonl (default: from --output's suffix, else csv)."
    ),
    all_rows: bool = typer.Option(
        False, "--all", help="Every review row ever recorded, undos included (the audit trail)."
    ),
    db: DbExisting = DEFAULT_DB,
) -> None:
    """Write the reviewed labels in force (one per text) as CSV or JSONL."""
    from adme.reviews import export_reviews

    text = export_reviews(db, output, fmt, all_rows=all_rows)
    typer.echo(text, nl=output is not None)


# --- serve ---
@app.command()
@one_line_errors
def serve(
    model: TrainedModel = ...,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port to listen on."),
    max_body_bytes: int = typer.Option(
        1_000_000, "--max-body-bytes", min=1, help="Larger request bodies get HTTP 413."
    ),
    max_paragraphs: int = typer.Option(
        256, "--max-paragraphs", min=1, help="Most paragraphs one POST /label may send."
    ),
    allow_reviews: bool = typer.Option(
        False,
        "--allow-reviews",
        help="Let the review page (/review) record answers as `reviews` rows (default: "
        "read-only). Needs --reviewer.",
    ),
    reviewer: str = typer.Option(
        None, "--reviewer", help="Name recorded with every answer given on the review page."
    ),
    max_length: ModelMaxLength = None,
    device: Device = "auto",
    precision: Precision = "auto",
    db: db_option(
        "DuckDB file GET /documents reads (read-only; POST /label works without it)."
    ) = DEFAULT_DB,
) -> None:
    """Serve the review page (/review), POST /label, GET /documents/{set_id}, GET /health.

    POST /label takes a JSON body {"paragraphs": ["text", ...]} and answers one prediction per
    paragraph; every endpoint's schema is at /docs (e.g. http://127.0.0.1:8000/docs).
    """
    from adme import serve as api

    typer.echo(
        api.serve(
            db,
            model,
            host,
            port,
            max_body_bytes=max_body_bytes,
            max_paragraphs=max_paragraphs,
            device=device,
            allow_reviews=allow_reviews,
            reviewer=reviewer,
            max_length=max_length,
            precision=precision,
            announce=typer.echo,
        )
    )


if __name__ == "__main__":
    app()
