"""Messages: the notices a login may read, rendered from the facts they
store."""

from rest_framework import serializers

from notifications.models import Notice


class MessageSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer.ref", help_text="the customer it is about")
    orders = serializers.ListField(source="order_refs", child=serializers.CharField(), help_text="the orders' refs")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = ["id", "kind", "subject", "customer", "business_date", "orders", "read"]
        read_only_fields = fields

    def get_subject(self, notice) -> str:
        return self._content(notice).subject

    def get_read(self, notice) -> bool:
        return notice.read_at is not None

    def _content(self, notice):
        """What the notice says, rendered once per notice and response."""
        rendered = self.context.setdefault("rendered", {})
        if notice.pk not in rendered:
            rendered[notice.pk] = notice.rendered()
        return rendered[notice.pk]


class MessageDetailSerializer(MessageSerializer):
    text = serializers.SerializerMethodField()
    html = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "text", "html"]
        read_only_fields = fields

    def get_text(self, notice) -> str:
        return self._content(notice).text

    def get_html(self, notice) -> str:
        return self._content(notice).html
