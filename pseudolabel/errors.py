"""User-facing exceptions: each says what was wrong, where, and what to do."""


class PseudolabelError(ValueError):
    """Base class for every error caused by the user's input; the CLI prints it on one line."""


class ConfigError(PseudolabelError):
    """A configuration key, value or type is invalid."""


class DataError(PseudolabelError):
    """An input table, file, column or row is invalid."""


class RunStateError(PseudolabelError):
    """A run folder does not match the run asked for, or is not a pseudolabel run."""


class RunLockedError(RunStateError):
    """Another process is writing the run folder; the message names it (process id, host, since when)."""


class DamagedRunError(RunStateError):
    """A finished round (or ``final/``) has a missing, truncated or unreadable file; the message
    names the file and how to redo that round."""


class WriteError(PseudolabelError):
    """Writing failed for a reason outside pseudolabel (disk full, quota, read-only filesystem);
    nothing half-written is left in place, and the same command resumes once the cause is fixed."""


def one_line(exc: BaseException) -> str:
    """The cause of ``exc`` for a one-line message: an OSError's ``No space left on device``, else
    the first line of its text."""
    return getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
