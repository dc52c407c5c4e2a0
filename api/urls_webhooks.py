"""The webhook endpoints' API (docs/webhooks.md)."""

from django.urls import path

from api.views import webhooks

urlpatterns = [
    path("webhook-endpoints/", webhooks.EndpointList.as_view(), name="api-webhook-endpoints"),
    path("webhook-endpoints/<int:endpoint_id>/", webhooks.EndpointDetail.as_view(), name="api-webhook-endpoint"),
    path(
        "webhook-endpoints/<int:endpoint_id>/secret/",
        webhooks.EndpointSecret.as_view(),
        name="api-webhook-endpoint-secret",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret/",
        webhooks.EndpointRotateSecret.as_view(),
        name="api-webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/deliveries/",
        webhooks.DeliveryList.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhook-deliveries/<int:delivery_id>/redeliver/",
        webhooks.DeliveryRedeliver.as_view(),
        name="api-webhook-delivery-redeliver",
    ),
]
