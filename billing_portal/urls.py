from django.contrib import admin
from django.urls import include, path

from calendars.views import feed as calendar_feed
from core.csp import stripe_js_allowed
from core.views import healthz_live
from logins.throttle import ThrottledLoginView
from payments.views import card_add_page, cards, stripe_webhook
from renewals.views import healthz, status_page

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("healthz/live", healthz_live, name="healthz-live"),
    path("stripe/webhook", stripe_webhook, name="stripe-webhook"),
    # A renewal calendar: public, the secret in the URL is the credential (calendars/views.py).
    path("calendar/<str:secret>.ics", calendar_feed, name="calendar-feed"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/cards/", cards, name="cards"),
    # Stripe.js is allowed on this page only (core/csp.py).
    path("account/cards/add/", stripe_js_allowed(card_add_page), name="card-add"),
    path("admin/status/", admin.site.admin_view(status_page), name="admin-status"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("panels.urls")),
]
