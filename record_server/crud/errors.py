"""What a data function refuses with: the API answers ``NotFound`` 404 and ``Refused`` 409."""

from __future__ import annotations


class DataError(Exception):
    """A data function refused; ``detail`` is the message the API answers with."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DataError):
    """No row with that key."""

    status_code = 404


class Refused(DataError):
    """The row is there but its state refuses the change."""

    status_code = 409
