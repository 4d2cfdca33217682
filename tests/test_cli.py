"""The command line as one tool: exit codes, one-line errors, shared options, `--help` wording.

The exit-code rule (README, "Exit codes"): 2 when the command line itself is wrong (Typer's own
checks and adme's UsageError), 1 when the data, a file, the network or the run fails, 130 on
Ctrl-C. Every case here runs the real CLI (Typer's CliRunner) against real files in tmp_path.
"""

from __future__ import annotations

import socket

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from adme.cli import app, one_line_errors
from adme.errors import AdmeError, UsageError

COMMANDS = (
    "fetch",
    "merge",
    "split",
    "pretrain",
    "train",
    "ensemble",
    "sweep",
    "label",
    "evaluate",
    "report",
    "sql",
    "plot",
    "review import",
    "review export",
    "serve",
)
# Options shared by several commands close every command's option list, in this order.
SHARED_TAIL = (
    "--batch-size",
    "--max-length",
    "--device",
    "--precision",
    "--progress",
    "--db",
    "--cache",
)
WIDE = {"COLUMNS": "250"}


def run(*args: str):
    """Invoke adme with ARGS; stdout and stderr kept apart."""
    return CliRunner().invoke(app, list(args), env=WIDE, prog_name="adme")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--split", "s", "--seeds", "a,b"],
        ["train", "--split", "s", "--seeds", "42,42"],
        ["train", "--split", "s", "--seeds", "-1"],
        ["train", "--split", "s", "--batch-size", "0"],
        ["train", "--split", "s", "--lr", "-1"],
        ["train", "--split", "s", "--grid-lrs", "0,x"],
        ["train", "--split", "s", "--grid-lrs", "1e-5,inf"],
        ["train", "--split", "s", "--lr", "nan"],
        ["train", "--split", "s", "--stage1-lr", "inf"],
        ["train", "--split", "s", "--beta", "1"],
        ["train", "--split", "s", "--max-m", "nan"],
        ["label", "--model", "m", "--batch-size", "0"],
        ["label", "--batch-size", "4"],  # --model missing
        ["fetch", "--drug", "x", "--rate", "-1"],
        ["fetch", "--drug", "x", "--rate", "0"],
        ["fetch", "--drug", "x", "--rate", "nan"],
        ["fetch", "--drug", "x", "--timeout", "inf"],
        ["fetch", "--drug", "x", "--workers", "0"],
        ["fetch", "--drug", "x", "--timeout", "0"],
        ["fetch", "--drug", "x", "--limit", "0"],
        ["fetch", "--since", "yesterday"],
        ["fetch"],  # nothing to fetch
        ["split", "s", "--method", "ratio"],
        ["split", "s", "--method", "ratio", "--ratio", "2"],
        ["split", "s", "--seed", "-3"],
        ["pretrain", "--epochs", "0"],
        ["pretrain", "--mlm-probability", "1.5"],
        ["pretrain", "--mlm-probability", "0"],
        ["pretrain", "--checkpoint-steps", "0,10"],
        ["pretrain", "--hidden-size", "250", "--num-heads", "4"],
        ["pretrain", "--vocab-size", "3"],
        ["serve", "--model", "m", "--port", "99999"],
        ["serve", "--model", "m", "--port", "0"],
        ["report", "--format", "xml", "--list", "--nope"],
        ["report", "class_balance", "--format", "xml"],
        ["plot", "pie", "--output", "x.png"],
        ["merge"],
    ],
)
def test_usage_errors_exit_2_before_touching_anything(args, tmp_path):
    """A wrong command line exits 2, says so in one line and never creates the database it names.

    Typer's own checks (a range, a missing option) read like adme's: one `error:` line.
    """
    db = tmp_path / "never.duckdb"
    result = run(*args, "--db", str(db))
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert not db.exists()
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "s", "--method", "ratio"], "--method ratio needs --ratio, a fraction in (0, 1]"),
        (["serve", "--model", "m", "--port", "99999"], "Invalid value for '--port': "),
        (
            ["fetch", "--drug", "x", "--rate", "-1"],
            "Invalid value for '--rate': -1.0: must be above 0 (see adme fetch --help)",
        ),
        (
            ["label", "--batch-size", "4"],
            "Missing option '--model' / '-m'. (see adme label --help)",
        ),
        (["nosuch"], "No such command 'nosuch'. (see adme --help)"),
        (["train", "--split", "s", "--seeds", "42,42"], "--seeds 42,42: 42 is given twice"),
        (["train", "--split", "s", "--seeds", "a,b"], "--seeds a,b: 'a' is not a number"),
        (["train", "--split", "s", "--grid-lrs", "1e-5,inf"], "--grid-lrs 1e-5,inf: inf must be"),
        (["pretrain", "--checkpoint-steps", "0"], "--checkpoint-steps 0: must be 1 or more"),
        (["pretrain", "--hidden-size", "250"], "--hidden-size 250: not a multiple of"),
    ],
)
def test_adme_usage_errors_read_as_one_line(args, message, tmp_path):
    result = run(*args, "--db", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}" + result.stderr[len(message) + 7 :]
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["split", "s"],
        ["train", "--split", "s", "--method", "tfidf"],
        ["pretrain"],
        ["report", "class_balance"],
        ["plot", "class-balance", "--output", "x.png"],
        ["label", "--model", "no-such-folder"],
    ],
)
def test_a_missing_database_exits_1_with_one_line_and_is_not_created(args, tmp_path):
    db = tmp_path / "typo.duckdb"
    result = run(*args, "--db", str(db))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert not db.exists()


def test_serve_on_a_port_in_use_is_one_line_exit_1(tmp_path):
    """The port is bound before the model loads: a taken port fails at once, one line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("serve", "--model", str(tmp_path / "m"), "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: already in use\n"


def _exit_code_of(exc: BaseException) -> tuple[int, str]:
    """Run a one-command Typer app through adme's error wrapper that raises EXC."""
    mini = typer.Typer()

    @mini.command()
    @one_line_errors
    def boom() -> None:
        raise exc

    result = CliRunner().invoke(mini, [])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("exc", "code"),
    [(UsageError("--x 1: bad"), 2), (AdmeError("f: broken"), 1), (KeyboardInterrupt(), 130)],
)
def test_the_exit_code_rule(exc, code):
    got, stderr = _exit_code_of(exc)
    assert got == code
    assert stderr.count("\n") == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_reads_as_one_tool(command):
    """Shared options are spelled, abbreviated and explained alike in every command."""
    result = run(*command.split(), "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--db FILE" in text
    if command in ("label", "evaluate"):  # creates it only when it has labels to store
        assert "created if missing" in text and "must exist" in text
    elif command in ("fetch", "merge"):
        assert "created if missing" in text and "must exist" not in text
    elif command != "serve":  # serve: "DuckDB file GET /documents reads (read-only ...)"
        assert "it must exist" in text and "created if missing" not in text
    assert "<path>" not in text.split("Options")[-1], f"{command}: an option without FILE/FOLDER"
    if "--cache" in text:
        assert "--cache FOLDER" in text
    if "--model" in text:
        assert "--model -m" in text, f"{command}: --model without -m"
    if "--device" in text:
        assert "auto (CUDA if present, else CPU), cpu, cuda or cuda:N" in text
    if "--progress" in text:
        assert "Show a progress bar on stderr" in text
    # the commands that classify share one --precision (adme.inference's one path)
    assert ("--precision" in text) == (command in ("label", "evaluate", "serve")), command
    if "--precision" in text:
        assert "AUTO|FULL|INT8|BF16" in text and "the exact full-precision model" in text
    assert "--workers" not in text or command == "fetch"  # label's is --tokenizer-workers


def _options(command: str) -> list[str]:
    """COMMAND's visible options in the order --help lists them."""
    found = typer.main.get_command(app)
    for word in command.split():
        found = found.commands[word]
    return [
        p.opts[0]
        for p in found.params
        if p.param_type_name == "option" and not p.hidden and p.opts[0].startswith("--")
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_options_close_every_option_list_in_one_order(command):
    """The command's own options first, then --batch-size ... --db --cache as everywhere else."""
    options = _options(command)
    shared = [o for o in options if o in SHARED_TAIL]
    assert shared, command
    assert options[-len(shared) :] == shared, options
    assert shared == sorted(shared, key=SHARED_TAIL.index)


def test_label_workers_is_a_deprecated_alias(tmp_path):
    result = run("label", "--model", str(tmp_path / "m"), "--workers", "0", "--db", "x.duckdb")
    assert "label --workers is deprecated, use --tokenizer-workers" in result.stderr


def test_serve_help_shows_the_rest_body_and_docs():
    text = " ".join(run("serve", "--help").stdout.split())
    assert '{"paragraphs": ["text", ...]}' in text and "/docs" in text


def test_a_file_that_cannot_be_written_is_one_line_exit_1(tmp_path):
    """An OSError (here: --output names a folder) is the run failing: one line, exit 1."""
    db = tmp_path / "a.duckdb"
    duckdb.connect(str(db)).close()
    result = run("sql", "SELECT 1 AS x", "--format", "csv", "-o", str(tmp_path), "--db", str(db))
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path}: Is a directory\n"


# Float options whose range the library checks (adme.checks via split.check_params), not Typer.
CHECKED_BY_THE_LIBRARY = {
    ("split", "--test-size"),
    ("split", "--validation-size"),
    ("split", "--ratio"),
    ("split", "--fraction"),
    ("split", "--mu"),
    ("sweep", "--test-size"),
    ("sweep", "--validation-size"),
}


def _number_options():
    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
            return
        for p in command.params:
            if p.type_descriptor.annotation in (int, float):
                yield " ".join(path), p

    return list(walk(typer.main.get_command(app), []))


def test_every_number_option_has_a_range():
    """A new int/float option without min/max or number_option fails here (issue 13)."""
    found = _number_options()
    assert len(found) > 50
    unchecked = [
        (command, p.opts[0])
        for command, p in found
        if p.min is None and p.max is None and p.callback is None
    ]
    assert set(unchecked) == CHECKED_BY_THE_LIBRARY


@pytest.mark.parametrize(("command", "option"), sorted(CHECKED_BY_THE_LIBRARY))
def test_library_checked_numbers_refuse_nan_as_usage(command, option, tmp_path):
    args = {"split": ["split", "s"], "sweep": ["sweep", "x", "--ratios", "0.5"]}[command]
    if option in ("--ratio", "--fraction", "--mu"):
        method = {"--ratio": "ratio", "--fraction": "step", "--mu": "long-tail"}[option]
        args += ["--method", method] + (["--classes-cut", "other"] if method == "step" else [])
    result = run(*args, option, "nan", "--db", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {option} nan: ")
