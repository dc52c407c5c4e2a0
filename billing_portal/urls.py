from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core.views import healthz
from payments.views import card_add_page, cards, stripe_webhook

admin.site.site_header = "Renewal portal administration"
admin.site.site_title = "Renewal portal"

urlpatterns = [
    # The control panels arrive with their own issue; until then the portal
    # opens on Django admin.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("stripe/webhook", stripe_webhook, name="stripe-webhook"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/cards/", cards, name="cards"),
    path("account/cards/add/", card_add_page, name="card-add"),
    path("admin/", admin.site.urls),
]
