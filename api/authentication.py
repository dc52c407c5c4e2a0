"""The API's token authentication: django-rest-knox's digests, one token per
login (logins.services.token_issue), sent as ``Authorization: Token <key>``.

Knox's own ``authenticate_credentials`` deletes an expired token the first
time it is sent and answers "Invalid token.", so the client never learns why;
and it reads all the login's other tokens on every request to prune them.
Here an expired token is refused with its own code and date for as long as
it exists (until the login gets a new one or revokes it), in one query.
"""

import datetime
from hmac import compare_digest

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox import auth as knox_auth
from knox.crypto import hash_token
from rest_framework import exceptions

from logins.selectors import token_expired, tokens_with_key_prefix


class TokenExpired(exceptions.AuthenticationFailed):
    default_code = "token_expired"  # the error's stable code (api/errors.py): get a new token


class TokenAuthentication(knox_auth.TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            key = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("the token is not valid") from None
        digest = hash_token(key)
        for row in tokens_with_key_prefix(key):
            if not compare_digest(digest, row.digest):
                continue
            if token_expired(row):
                raise TokenExpired(
                    f"the API token expired on {row.expiry.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC: get a new one "
                    "(POST /api/auth/token/ or the panel's API token page)"
                )
            return self.validate_user(row)
        raise exceptions.AuthenticationFailed(
            "the token is not valid: it was revoked, replaced by a newer one, or mistyped"
        )


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema's security scheme: the same name and header as DRF's tokens had."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
