"""Errors a user sees as one line: what is wrong and with which file."""


class AdmeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1.

    The message is kept to one line whatever it quotes (a library's multi-line exception, a
    server's answer): every run of whitespace that holds a line break becomes one space.
    """

    def __init__(self, message: object = "") -> None:
        text = str(message)
        if "\n" in text or "\r" in text:
            text = " ".join(text.split())
        super().__init__(text)


class SplError(AdmeError):
    """One input file is not a usable SPL document (malformed, truncated, not SPL, unsafe)."""

    def __init__(self, source: str, fault: str):
        self.source = source
        self.fault = " ".join(fault.split()) if "\n" in fault or "\r" in fault else fault
        super().__init__(f"{source}: {self.fault}")


class UsageError(AdmeError):
    """The command line itself is wrong (options that do not fit together, a value out of range).

    The CLI prints it as one line like any AdmeError but exits 2, as Typer does for its own
    usage errors, so a script can tell "fix the command" (2) from "the data or the run failed" (1).
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none).

    Libraries raise multi-line messages; a one-line error quotes only the line that says what
    went wrong.
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
