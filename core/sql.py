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


def update_from_values(
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple],
    *,
    set_sql: str,
    where_sql: str,
    chunk: int = 500,
) -> int:
    """One set-based UPDATE per chunk of rows: ``WITH v(columns) AS (VALUES
    ...) UPDATE table SET set_sql FROM v WHERE where_sql``; returns the number
    of rows updated. Works on PostgreSQL and on SQLite 3.33+ (UPDATE ... FROM).

    ``set_sql`` and ``where_sql`` name the new values as ``v.<column>``; they
    are trusted SQL written by the caller, never user input.
    """
    from django.db import connection

    updated = 0
    width = len(columns)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(part))
        sql = f"WITH v({', '.join(columns)}) AS (VALUES {values}) UPDATE {table} SET {set_sql} FROM v WHERE {where_sql}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in part for value in row])
            count = cursor.rowcount
            if count < 0 and connection.vendor == "sqlite":
                # Python's sqlite3 reports no rowcount for a statement that
                # starts with WITH; SQLite itself knows.
                cursor.execute("SELECT changes()")
                count = cursor.fetchone()[0]
            updated += count
    return updated
