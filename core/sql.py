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


def db_now():
    """Now, in the form the database stores an aware datetime (for raw inserts)."""
    from django.db import connection
    from django.utils import timezone

    return connection.ops.adapt_datetimefield_value(timezone.now())


def _copy_escape(value: str) -> str:
    # Most values have nothing to escape: four C-level scans beat translate().
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


_COPY_FORMAT = {
    type(None): lambda value: "\\N",
    bool: lambda value: "t" if value else "f",
    str: _copy_escape,
}


def _copy_line(row: tuple) -> str:
    """One row in PostgreSQL's COPY text format."""
    return "\t".join([_COPY_FORMAT.get(type(value), str)(value) for value in row]) + "\n"


def insert_rows(
    model,
    columns: tuple[str, ...],
    rows: list[tuple],
    *,
    returning: tuple[str, ...] = (),
    ignore_conflicts: bool = False,
) -> list[tuple]:
    """INSERT many rows without building model instances: the hot paths' way
    to write (the ORM's bulk_create spends most of its time preparing values).

    ``columns`` are field attribute names (``order_id``); values must be ready
    for the database (dates, Decimals, ints, text, ``db_now()``, JSON as text).
    Returns ``returning`` (``("id", <a column>)``) of the new rows: callers
    match rows by that key, not by position.

    On PostgreSQL the rows go by COPY (ids drawn from the table's sequence
    first when asked for); with ``ignore_conflicts``, by INSERT ... ON
    CONFLICT DO NOTHING. On SQLite, by multi-row INSERT ... RETURNING.
    """
    from django.db import connection

    if not rows:
        return []
    table = model._meta.db_table
    if returning and returning[0] != "id":
        raise ValueError("returning starts with id")
    if connection.vendor == "postgresql" and not ignore_conflicts:
        return _copy_rows(connection, table, model, columns, rows, returning)
    names = ", ".join(model._meta.get_field(c).column for c in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    back = ", ".join(model._meta.get_field(c).column for c in returning)
    tail = f"{conflict}{f' RETURNING {back}' if returning else ''}"
    found: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Values rendered by psycopg2 itself (proper quoting), sent through
            # Django's cursor so the statement is counted and logged.
            row_template = "(" + ", ".join(["%s"] * len(columns)) + ")"
            raw = cursor.cursor
            for start in range(0, len(rows), 1000):
                part = rows[start : start + 1000]
                values = raw.mogrify(", ".join([row_template] * len(part)), [v for row in part for v in row])
                cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values.decode()}{tail}")
                if returning:
                    found += [tuple(row) for row in cursor.fetchall()]
        else:
            width = len(columns)
            per_statement = max(1, 30000 // width)  # SQLite allows 32766 bound values
            for start in range(0, len(rows), per_statement):
                part = rows[start : start + per_statement]
                values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(part))
                cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values}{tail}", [v for row in part for v in row])
                if returning:
                    found += [tuple(row) for row in cursor.fetchall()]
    return found


def _copy_rows(connection, table, model, columns, rows, returning) -> list[tuple]:
    import io

    with connection.cursor() as cursor:
        if returning:
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [len(rows)]
            )
            ids = [row[0] for row in cursor.fetchall()]
            rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
            columns = ("id", *columns)
        names = ", ".join(model._meta.get_field(c).column for c in columns)
        buffer = io.StringIO()
        buffer.writelines(map(_copy_line, rows))
        buffer.seek(0)
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", buffer)
    if not returning:
        return []
    positions = [columns.index(c) for c in returning]
    return [tuple(row[i] for i in positions) for row in rows]
