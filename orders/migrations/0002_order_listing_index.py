# The order lists' default sort (orders.models.ENDED_LAST, then paid-thru date).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                models.Case(
                    models.When(status="terminated", then=models.Value(1)),
                    default=models.Value(0),
                ),
                models.F("expires_on"),
                models.F("id"),
                name="order_listing_idx",
            ),
        ),
    ]
