"""One error family.  The CLI prints ``str(err)`` on one line and exits with ``err.exit_code``.

- ``EdgecvError``: bad input (exit 2): a missing file, a wrong option, a model file that is not one.
- ``CheckFailed``: a check ran and the result was bad (exit 1): validation, verify.
- ``RuntimeFailure``: the model or the device failed (exit 1): a CUDA error, an engine build, a
  backend that broke mid-graph.
- ``ImageError``: one unreadable image; a run reports it, goes on, and exits 1 at the end.
"""


class EdgecvError(Exception):
    """A user-facing error: what is wrong, and what to do about it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")


class NeedsArch(EdgecvError):
    """Bare weights (a state_dict) that need ``--arch`` or ``--model-file`` to become a model."""


class CheckFailed(EdgecvError):
    """A check ran and the result was bad (validation over tolerance, a failed parity run)."""

    exit_code = 1


class RuntimeFailure(EdgecvError):
    """The model or the device failed (CUDA error, engine build failure, a backend error)."""

    exit_code = 1


class ImageError(EdgecvError):
    """One unreadable input image; a run reports it per image and goes on."""

    exit_code = 1
