"""rest_framework.authtoken is no longer installed: drop its table (emptied by
0002) and forget its migrations, so that installing it again would create the
table afresh. Nothing to do on a database that never had it.

Its content types and permissions stay until ``manage.py
remove_stale_contenttypes --include-stale-apps``.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("api", "0002_api_tokens_from_authtoken")]

    operations = [
        migrations.RunSQL(
            [
                "DROP TABLE IF EXISTS authtoken_token",
                "DELETE FROM django_migrations WHERE app = 'authtoken'",
            ],
            migrations.RunSQL.noop,
        )
    ]
