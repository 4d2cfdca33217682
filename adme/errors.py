"""Errors a user sees as one line: what is wrong and with which file."""


class AdmeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1."""


class SplError(AdmeError):
    """One input file is not a usable SPL document (malformed, truncated, not SPL, unsafe)."""

    def __init__(self, source: str, fault: str):
        self.source = source
        self.fault = fault
        super().__init__(f"{source}: {fault}")
