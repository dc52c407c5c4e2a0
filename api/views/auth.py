"""Tokens: one per login, obtained with the username and password (throttled
like the panels' sign-in; a new one replaces the old), revoked by the login
itself, in the panel, in Django admin, or by a change of the password. The key
is in the answer once: the portal keeps only its digest (api/authentication.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views.common import BAD_INPUT, responses
from logins.services import token_create, token_revoke
from logins.throttle import ThrottledAuthenticationForm


class Credentials(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="send it as `Authorization: Token <token>`; shown only in this answer (the portal keeps a digest)"
    )
    expiry = serializers.DateTimeField(
        allow_null=True,
        help_text="when it stops working (401 `token_expired`); null: never (API_TOKEN_TTL_DAYS=0)",
    )


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # credentials in the body, never a session or a token

    def get_authenticate_header(self, request):
        # Wrong credentials are a 401 (with its WWW-Authenticate), not a 403.
        return "Token"

    @extend_schema(
        operation_id="token_obtain",
        description=(
            "A new token for the login, replacing the one it had (one per login). The key is in this answer "
            "only: the portal keeps a digest. It expires at `expiry` (API_TOKEN_TTL_DAYS after it is issued; "
            "using it does not extend it), then answers 401 `token_expired`; a change of the login's password "
            "revokes it."
        ),
        request=Credentials,
        responses=responses({200: TokenSerializer}, BAD_INPUT),
        auth=[],
    )
    def post(self, request):
        body = Credentials(data=request.data)
        body.is_valid(raise_exception=True)
        form = ThrottledAuthenticationForm(request._request, data=body.validated_data)
        if not form.is_valid():
            if form.has_error("__all__", code="throttled"):
                raise Throttled(detail=form.errors["__all__"][0])
            raise AuthenticationFailed("the username and password do not match an active login")
        issued = token_create(user=form.get_user())
        response = Response(TokenSerializer({"token": issued.key, "expiry": issued.expiry}).data)
        response["Cache-Control"] = "no-store"  # the only answer with the key: never kept by a cache
        return response


class TokenRevokeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="token_revoke",
        description="Revoke the login's token (the one sent, or the session's login's).",
        request=None,
        responses=responses({204: None}),
    )
    def delete(self, request):
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
