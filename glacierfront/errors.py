"""The one exception type for problems a user can cause and fix."""


class GlacierfrontError(Exception):
    """A user-facing error: the message names the file or option and says what to do.

    The CLI prints it as a single line on stderr and exits non-zero; library callers can catch it.
    """


class StoppedBySignal(GlacierfrontError):
    """A run stopped cleanly by SIGTERM or Ctrl-C (training saved its state first). The CLI exits with the
    shell's code for the signal, 128 + its number: 143 for SIGTERM, 130 for Ctrl-C."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's name when it has
    none: how a library's multi-line error is quoted inside a one-line GlacierfrontError."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__
