"""Errors the services raise: a machine code and a sentence for people."""


class DomainError(Exception):
    """A refused request: nothing was changed.

    ``code`` is stable (API and tests rely on it); ``message`` says what is
    wrong and, where it can, how to fix it.
    """

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    code = "not_found"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class IllegalTransition(DomainError):
    code = "illegal_transition"


def error_body(status_code: int, code: str, message: str, fields: dict | None = None) -> dict:
    """The API's error shape (api/errors.py), also answered by the request
    limits that run before the API (core/limits.py)."""
    error = {"status": status_code, "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}
