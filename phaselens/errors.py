"""One exception type for every mistake a user can make.

The CLI prints a `PhaseLensError` as a single line and exits 2 (1 for a run that
diverged, `NonFiniteError`); anything else is a bug and keeps its traceback.
"""


class PhaseLensError(ValueError):
    """Bad input: the message says what was wrong and what would be valid."""


class NonFiniteError(PhaseLensError):
    """The objective became NaN or infinite during a run: the model or the objective diverged.

    Attributes:
        images: the indices (in the batch) of the images that diverged.
        step: the first step (0-based) at which one of them was not finite.
    """

    def __init__(self, message: str, images: list[int], step: int) -> None:
        super().__init__(message)
        self.images = images
        self.step = step
