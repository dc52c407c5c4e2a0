"""What every API view shares: the acting user's tenant, the permissions, the
Idempotency-Key of the requests that move money, and the error responses
every endpoint declares in the schema."""

import re

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission

from tenants.scope import Actor, ActorKind, actor_for_user


def actor_of(request) -> Actor:
    return actor_for_user(request.user)


class IsCustomer(BasePermission):
    message = "this endpoint is for customer logins"

    def has_permission(self, request, view):
        return actor_of(request).kind == ActorKind.CUSTOMER


class IsReseller(BasePermission):
    message = "this endpoint is for reseller logins"

    def has_permission(self, request, view):
        return actor_of(request).kind == ActorKind.RESELLER


class IsCustomerOrReseller(BasePermission):
    message = "this endpoint is for customer and reseller logins"

    def has_permission(self, request, view):
        return actor_of(request).kind in (ActorKind.CUSTOMER, ActorKind.RESELLER)


class ErrorDetail(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="stable machine code, e.g. not_found, invalid, insufficient_funds")
    message = serializers.CharField(help_text="what is wrong, for people")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='bad input by field path, e.g. {"items[0].months": ["..."]}',
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetail()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# Every endpoint can answer these; each view adds its own successes (and 400/409/422 where it takes input).
BAD_INPUT = {400: _error("Malformed or invalid input; `fields` names each bad field by its path.")}
COMMON_ERRORS = {
    401: _error("Not signed in: send `Authorization: Token <key>` (POST /api/auth/token/) or a session."),
    403: _error("This login may not do this."),
    404: _error("Not found, or not yours: another tenant's ids look like ids that do not exist."),
    405: _error("Method not allowed."),
    406: _error("Not acceptable: the API answers application/json."),
    413: _error("The request body is larger than the portal accepts (MAX_REQUEST_BODY_BYTES); nothing was read."),
    415: _error("Unsupported media type: send application/json."),
    429: _error("Too many requests: wait the seconds in Retry-After."),
}
CONFLICT = {
    409: _error("The state moved meanwhile (e.g. the order was renewed, a payment is in progress): read and retry.")
}
REFUSED = {422: _error("Refused by a business rule (e.g. insufficient funds); nothing was changed.")}


def responses(ok: dict, *extra: dict) -> dict:
    out = dict(ok)
    out.update(COMMON_ERRORS)
    for more in extra:
        out.update(more)
    return out


# --- Idempotency-Key: every request that moves money (renewals, top-ups) ---

KEY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[!-~]{1,100}$"  # 1-100 visible ASCII characters, e.g. a UUID

IDEMPOTENCY_KEY = OpenApiParameter(
    KEY_HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=True,
    pattern=KEY_PATTERN,
    examples=[OpenApiExample("a UUID", value="5f0c2b1e-8d4a-4c57-9a53-0d2b7e6f4c11")],
    description=(
        "1-100 visible ASCII characters, new for each payment (a UUID will do). Sending the same request again "
        "with the same key returns the first answer and never charges twice; the same key with another body "
        "answers 422 idempotency_key_reused, and while the first request runs, 409 idempotency_in_progress. "
        "Keys are per login and kept 24 hours."
    ),
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    location=OpenApiParameter.HEADER,
    enum=["true"],
    response=[201, 403, 404, 409, 422],
    description="`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
)


def idempotency_key_of(request) -> str:
    """The request's Idempotency-Key; a 400 naming the header when it is
    missing or malformed."""
    key = request.headers.get(KEY_HEADER)
    if key is None or not re.fullmatch(KEY_PATTERN, key):
        raise ValidationError({KEY_HEADER: ["send a header of 1-100 visible ASCII characters, e.g. a UUID"]})
    return key


def replay_headers(answer) -> dict | None:
    return {"Idempotent-Replayed": "true"} if answer.replayed else None
