"""API tokens at rest: each clear token of rest_framework.authtoken becomes a
django-rest-knox row (the sha512 digest of the same key, and its first
characters as knox's lookup prefix), so integrations keep their key; then the
clear rows are deleted. The table itself goes in 0003.

rest_framework.authtoken is no longer installed, so its table is read with
SQL (a migration cannot depend on an app that is not installed), and only if
it exists: a database created after this change never had one.

A moved token keeps its creation date and expires API_TOKEN_TTL_DAYS after
this migration (never, with 0), as a newly issued one would: expiring it by
its old creation date would cut off most integrations at once.

Not reversible into clear keys (only their digests are left): going back
keeps the knox rows.
"""

from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings

OLD_TABLE = "authtoken_token"


def move_clear_tokens(connection, token_model) -> int:
    """Move every clear token into ``token_model`` (knox's AuthToken) and
    delete it; returns how many moved."""
    if OLD_TABLE not in connection.introspection.table_names():
        return 0
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn('key')}, {qn('user_id')} FROM {qn(OLD_TABLE)}")
        rows = cursor.fetchall()
    ttl = knox_settings.TOKEN_TTL
    expiry = timezone.now() + ttl if ttl is not None else None
    token_model.objects.bulk_create(
        [
            token_model(
                digest=hash_token(key), token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id, expiry=expiry
            )
            for key, user_id in rows
        ],
        batch_size=500,
    )
    table = qn(token_model._meta.db_table)
    with connection.cursor() as cursor:
        # auto_now_add stamped them now: give each its clear token's date
        # (one token per login in the old table, so user_id matches one row).
        cursor.execute(
            f"UPDATE {table} SET {qn('created')} = ("
            f"SELECT t.{qn('created')} FROM {qn(OLD_TABLE)} t WHERE t.{qn('user_id')} = {table}.{qn('user_id')}"
            f") WHERE {qn('token_key')} IN (SELECT substr(t.{qn('key')}, 1, %s) FROM {qn(OLD_TABLE)} t)",
            [CONSTANTS.TOKEN_KEY_LENGTH],
        )
        cursor.execute(f"DELETE FROM {qn(OLD_TABLE)}")
    return len(rows)


def forwards(apps, schema_editor):
    move_clear_tokens(schema_editor.connection, apps.get_model("knox", "AuthToken"))


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
