"""The acting login's renewal calendar: its private feed URL."""

from rest_framework import serializers


class CalendarSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text="the private iCal feed (text/calendar): subscribe to it in a calendar app; anyone with it reads it"
    )
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True, help_text="when the link was last reset, null: never")
