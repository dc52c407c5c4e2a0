"""The reseller panel's pages, under /reseller/."""

from django.urls import path

from core.csp import notice_styles_allowed
from panels.views import reseller, reseller_renew, reseller_webhooks, retry_policy

urlpatterns = [
    path("", reseller.customers, name="reseller-customers"),
    path("customers/<int:customer_id>/", reseller.customer, name="reseller-customer"),
    path("customers/<int:customer_id>/renew/", reseller_renew.customer_renew, name="reseller-renew"),
    path("invoices/<int:invoice_id>/", reseller_renew.invoice, name="reseller-invoice"),
    path("invoices/<int:invoice_id>/pdf/", reseller_renew.invoice_pdf, name="reseller-invoice-pdf"),
    path("our-orders/", reseller_renew.our_orders, name="reseller-our-orders"),
    path("our-orders/renew/", reseller_renew.our_renew, name="reseller-our-renew"),
    path("our-orders/invoices/<int:invoice_id>/", reseller_renew.our_invoice, name="reseller-our-invoice"),
    path("our-orders/invoices/<int:invoice_id>/pdf/", reseller_renew.our_invoice_pdf, name="reseller-our-invoice-pdf"),
    path("preview/", reseller.preview, name="reseller-preview"),
    path("failures/", reseller.failures, name="reseller-failures"),
    path("resellers/", reseller.resellers, name="reseller-resellers"),
    path("retry-policy/", retry_policy.retry_policy, name="reseller-retry-policy"),
    path("messages/", reseller.messages_list, name="reseller-messages"),
    path("webhooks/", reseller_webhooks.webhooks, name="reseller-webhooks"),
    path("webhooks/<int:endpoint_id>/", reseller_webhooks.webhook, name="reseller-webhook"),
    path("messages/<int:notice_id>/", notice_styles_allowed(reseller.message), name="reseller-message-detail"),
]
