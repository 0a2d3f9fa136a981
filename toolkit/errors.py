"""One error family.  The CLI prints ``str(err)`` on one line and exits with ``err.exit_code``."""


class EdgecvError(Exception):
    """A user-facing error: what is wrong, and what to do about it.

    ``exit_code`` is 2 for bad input (the default) and 1 for a check that ran and failed.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")


class CheckFailed(EdgecvError):
    """A check ran and the result was bad (validation over tolerance, a failed parity run)."""

    exit_code = 1
