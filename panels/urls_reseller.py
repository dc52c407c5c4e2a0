"""The reseller panel's pages, under /reseller/."""

from django.urls import path

from core.csp import notice_styles_allowed
from panels.views import reseller

urlpatterns = [
    path("", reseller.customers, name="reseller-customers"),
    path("customers/<int:customer_id>/", reseller.customer, name="reseller-customer"),
    path("preview/", reseller.preview, name="reseller-preview"),
    path("failures/", reseller.failures, name="reseller-failures"),
    path("resellers/", reseller.resellers, name="reseller-resellers"),
    path("messages/", reseller.messages_list, name="reseller-messages"),
    path("messages/<int:notice_id>/", notice_styles_allowed(reseller.message), name="reseller-message-detail"),
]
