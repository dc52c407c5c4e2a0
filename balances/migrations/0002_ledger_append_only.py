from django.db import migrations

from core.sql import append_only


class Migration(migrations.Migration):
    dependencies = [("balances", "0001_initial")]

    operations = [append_only("balances_ledgerentry")]
