from django.urls import include, path

from core.csp import notice_styles_allowed
from panels.views import calendar, common, customer, token

urlpatterns = [
    path("", common.home, name="home"),
    path("orders/", customer.orders, name="orders"),
    path("orders/<int:order_id>/", customer.order_detail, name="order-detail"),
    path("renew/", customer.renew, name="renew"),
    path("renewals/", customer.renewals, name="renewals"),
    path("balance/", customer.balance, name="balance"),
    path("invoices/", customer.invoices, name="invoices"),
    path("invoices/<int:invoice_id>/", customer.invoice_detail, name="invoice-detail"),
    path("invoices/<int:invoice_id>/pdf/", customer.invoice_pdf, name="invoice-pdf"),
    path("messages/", customer.messages_list, name="messages"),
    path("messages/<int:notice_id>/", notice_styles_allowed(customer.message_detail), name="message-detail"),
    path("settings/", customer.account_settings, name="settings"),
    path("account/api-token/", token.token_page, name="api-token-page"),
    path("account/calendar/", calendar.calendar_page, name="calendar-page"),
    path("reseller/", include("panels.urls_reseller")),
]
