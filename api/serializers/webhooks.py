"""The webhook endpoints and their deliveries (docs/webhooks.md)."""

from rest_framework import serializers

from webhooks.models import Delivery, DeliveryState, Endpoint, EventType


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))

    class Meta:
        model = Endpoint
        fields = ["id", "url", "events", "enabled", "disabled_at", "disabled_reason", "failing_since", "created_at"]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="the HMAC-SHA256 key of the Portal-Signature header: keep it secret (shown to this reseller only)"
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="https:// to a public host")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), min_length=1, max_length=len(EventType.values)
    )


class EndpointChangeSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        min_length=1,
        max_length=len(EventType.values),
        required=False,
    )
    enabled = serializers.BooleanField(
        required=False, help_text="true sends the deliveries that waited; false keeps them for later"
    )


class DeliveryEventSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="the event id the receiver dedupes on")
    type = serializers.ChoiceField(choices=EventType.choices)
    created_at = serializers.DateTimeField()


class DeliverySerializer(serializers.ModelSerializer):
    event = DeliveryEventSerializer()
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    last_response = serializers.CharField(help_text="the first 2,000 characters of the last answer's body")

    class Meta:
        model = Delivery
        fields = [
            "id", "event", "state", "attempts", "last_status", "last_response", "last_error", "last_attempt_at",
            "next_attempt_at", "delivered_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields
