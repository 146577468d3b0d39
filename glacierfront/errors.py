"""The one exception type for problems a user can cause and fix."""


class GlacierfrontError(Exception):
    """A user-facing error: the message names the file or option and says what to do.

    The CLI prints it as a single line on stderr and exits non-zero; library callers can catch it.
    """
