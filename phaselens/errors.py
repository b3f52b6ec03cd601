"""One exception type for every mistake a user can make.

The CLI prints a `PhaseLensError` as a single line and exits non-zero; anything
else is a bug and keeps its traceback.
"""


class PhaseLensError(ValueError):
    """Bad input: the message says what was wrong and what would be valid."""
