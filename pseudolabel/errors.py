"""User-facing exceptions: each says what was wrong, where, and what to do."""


class PseudolabelError(ValueError):
    """Base class for every error caused by the user's input; the CLI prints it on one line."""


class ConfigError(PseudolabelError):
    """A configuration key, value or type is invalid."""


class DataError(PseudolabelError):
    """An input table, file, column or row is invalid."""


class RunStateError(PseudolabelError):
    """A run folder does not match the run asked for, or is not a pseudolabel run."""
