from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from api.views import auth
from core.csp import api_docs_policy

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs' own Content-Security-Policy (core/csp.py); Swagger UI's
    # start-up script comes from docs/?script, not inline.
    path(
        "docs/",
        api_docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("redoc/", api_docs_policy(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("auth/token/", auth.TokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", auth.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("", include("api.urls_resources")),
    path("", include("api.urls_renewals")),
    path("", include("api.urls_webhooks")),
]
