"""One error shape for every API answer that is not a success:

    {"error": {"status": 422, "code": "insufficient_funds",
               "message": "the renewal costs ...", "fields": {"items[0].months": ["..."]}}}

``code`` is stable (clients branch on it), ``message`` is a sentence for
people, ``fields`` (only for bad input) names each field by its path. A
refused request changed nothing.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from core.errors import DomainError, NotFound, error_body
from renewals.csr import CSR_CODES

# Domain codes that mean "the state moved under you", not "your input is wrong".
CONFLICT_CODES = frozenset(
    {"renewed_meanwhile", "payment_in_progress", "price_changed", "idempotency_in_progress", "payment_unknown"}
)
FORBIDDEN_CODES = frozenset({"forbidden", "auto_renew_locked"})
# Refusals of what the request carried itself (an SSL renewal's CSR): bad input.
BAD_INPUT_CODES = CSR_CODES


def flatten(detail, path: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as {"items[0].months": ["..."]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if key == "non_field_errors":
                name = path
            elif isinstance(key, int):  # DRF names a list's bad items by their index
                name = f"{path}[{key}]"
            else:
                name = f"{path}.{key}" if path else str(key)
            out.update(flatten(value, name))
        return out
    if isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        return {path or "body": [str(item) for item in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out.update(flatten(value, f"{path}[{index}]"))
        return out
    return {path or "body": [str(detail)]}


def domain_status(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return status.HTTP_404_NOT_FOUND
    if exc.code in CONFLICT_CODES:
        return status.HTTP_409_CONFLICT
    if exc.code in FORBIDDEN_CODES:
        return status.HTTP_403_FORBIDDEN
    if exc.code in BAD_INPUT_CODES:
        return status.HTTP_400_BAD_REQUEST
    return status.HTTP_422_UNPROCESSABLE_ENTITY


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        code = domain_status(exc)
        return Response(error_body(code, exc.code, _sentence(exc.message)), status=code)
    if isinstance(exc, RequestDataTooBig):  # core.limits refuses it first, unless the two limits differ
        return Response(error_body(413, "too_large", _sentence(str(exc))), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 handling (and logging) takes it
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        message = "Some fields are not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in fields.items())
        response.data = error_body(response.status_code, "invalid", message, fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.Throttled):
            code = "throttled"
        response.data = error_body(response.status_code, code, _sentence(str(detail)))
    return response


def refusal(exc: DomainError) -> tuple[int, dict]:
    """A refused paying request's (status, body), as once.services keeps it
    with the request's Idempotency-Key for a replay."""
    response = exception_handler(exc, {})
    return response.status_code, response.data


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]) if text else text
