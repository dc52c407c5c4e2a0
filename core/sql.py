"""Database-side guards that the ORM cannot express."""

from django.db import migrations

_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_change_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a correcting entry instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def append_only(table: str) -> migrations.RunPython:
    """A migration operation that, on PostgreSQL, makes ``table`` refuse every
    UPDATE and DELETE (TRUNCATE, which tests use to reset, stays possible for
    the table owner)."""
    trigger = f"{table}_append_only"

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only()"
        )

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")

    return migrations.RunPython(forward, backward, elidable=False)
