from django.urls import path

from api.views import account, calendar, customers, invoices, messages, orders, preview

urlpatterns = [
    path("customers/", customers.CustomerList.as_view(), name="api-customers"),
    path("customers/<int:customer_id>/", customers.CustomerDetail.as_view(), name="api-customer"),
    path(
        "customers/<int:customer_id>/auto-renew-allowed/",
        customers.CustomerAutoRenewAllowed.as_view(),
        name="api-customer-auto-renew-allowed",
    ),
    path("orders/", orders.OrderList.as_view(), name="api-orders"),
    path("orders/<int:order_id>/", orders.OrderDetail.as_view(), name="api-order"),
    path("balance/", account.Balance.as_view(), name="api-balance"),
    path("balance/top-up/", account.TopUp.as_view(), name="api-balance-top-up"),
    path("ledger/", account.Ledger.as_view(), name="api-ledger"),
    path("cards/", account.CardList.as_view(), name="api-cards"),
    path("cards/<int:card_id>/", account.CardDetail.as_view(), name="api-card"),
    path("cards/<int:card_id>/default/", account.CardDefault.as_view(), name="api-card-default"),
    path("invoices/", invoices.InvoiceList.as_view(), name="api-invoices"),
    path("invoices/<int:invoice_id>/", invoices.InvoiceDetail.as_view(), name="api-invoice"),
    path("invoices/<int:invoice_id>/pdf/", invoices.InvoicePdf.as_view(), name="api-invoice-pdf"),
    path("messages/", messages.MessageList.as_view(), name="api-messages"),
    path("messages/<int:notice_id>/", messages.MessageDetail.as_view(), name="api-message"),
    path("messages/<int:notice_id>/read/", messages.MessageRead.as_view(), name="api-message-read"),
    path("sweep-preview/", preview.SweepPreview.as_view(), name="api-sweep-preview"),
    path("calendar/", calendar.CalendarFeed.as_view(), name="api-calendar"),
    path("calendar/rotate/", calendar.CalendarRotate.as_view(), name="api-calendar-rotate"),
]
