"""Database-side guards that the ORM cannot express, and the set-based
helpers of the hot paths (raw multi-row writes, COPY, id lists)."""

from django.db import migrations
from django.db.models import F, Lookup, Q

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


def update_from_arrays(
    table: str, columns: tuple[tuple[str, str], ...], rows: list[tuple], *, set_sql: str, where_sql: str, key: str
) -> int:
    """``update_from_values`` for many rows on PostgreSQL: ``UPDATE table SET
    set_sql FROM unnest(%s::type[], ...) AS v(columns) WHERE where_sql``, one
    statement whatever the number of rows, each column sent as one array
    literal built here. The driver would otherwise render every value of a
    VALUES list on its own (about as long as the UPDATE takes), and the
    server parse each. ``columns``: (name, SQL type) pairs; values are ints,
    dates, Decimals or text (no NULLs). ``key``: the table's column that the
    first one matches (its primary key): the rows are also asked for as
    ``key = ANY(...)``, so that the planner reads them by index, not the
    whole table into a hash. Returns the number of rows updated. Elsewhere
    (SQLite), update_from_values."""
    from django.db import connection

    names = tuple(name for name, _type in columns)
    if connection.vendor != "postgresql":
        return update_from_values(table, names, rows, set_sql=set_sql, where_sql=where_sql)
    if not rows:
        return 0
    arrays = ", ".join(f"%s::{sql_type}[]" for _name, sql_type in columns)
    sql = (
        f"UPDATE {table} SET {set_sql} FROM unnest({arrays}) AS v({', '.join(names)}) "
        f"WHERE {where_sql} AND {table}.{key} = ANY(%s::{columns[0][1]}[])"
    )
    literals = [_array_literal(column) for column in zip(*rows, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*literals, literals[0]])
        return cursor.rowcount


def insert_from_arrays(table: str, columns: tuple[tuple[str, str], ...], rows: list[tuple], *, tail: str = "") -> int:
    """INSERT many rows, ``tail`` after them (trusted SQL, e.g. an ``ON
    CONFLICT`` clause, which COPY cannot take): on PostgreSQL one statement,
    ``INSERT INTO table (columns) SELECT * FROM unnest(%s::type[], ...)``,
    each column sent as one array literal (as ``update_from_arrays``: a
    VALUES list of a thousand rows cost the driver and the server ten times
    more); elsewhere (SQLite), multi-row VALUES. ``columns``: (name, SQL
    type) pairs; no NULLs. Returns the number of rows written."""
    from django.db import connection

    if not rows:
        return 0
    names = ", ".join(name for name, _type in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{sql_type}[]" for _name, sql_type in columns)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}",
                [_array_literal(column) for column in zip(*rows, strict=True)],
            )
            return cursor.rowcount
        return sum(max(cursor.rowcount, 0) for _ in _values_statements(cursor, table, names, rows, f" {tail}"))


def _values_statements(cursor, table: str, names: str, rows: list[tuple], tail: str):
    """INSERT ``rows`` as multi-row VALUES statements, as many rows to a
    statement as SQLite's bound values allow; yields after each one (for its
    rowcount, or the rows its RETURNING gives)."""
    width = len(rows[0])
    per_statement = max(1, 30000 // width)  # SQLite allows 32766 bound values
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(part))
        cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values}{tail}", [v for row in part for v in row])
        yield


def _array_literal(values) -> str:
    """PostgreSQL's text form of a one-dimensional array: ``{1,2,"a b"}``.
    Each distinct value is formatted once (dates and amounts repeat)."""
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    memo: dict = {}
    parts = []
    for value in values:
        key = (type(value), value)
        text = memo.get(key)
        if text is None:
            if value is None:
                raise ValueError("update_from_arrays takes no NULLs")
            text = str(value)
            if type(value) is str:
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            memo[key] = text
        parts.append(text)
    return "{" + ",".join(parts) + "}"


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


def _copy_text(rows: list[tuple]) -> str:
    """The rows in PostgreSQL's COPY text format. Dates, times and amounts
    repeat across a batch's rows (one business date, one ``now``, a few
    prices) and their ``str`` is the slow part: each distinct one is
    formatted once per call."""
    memo: dict = {}
    escape = _copy_escape

    def cell(value) -> str:
        kind = type(value)
        if kind is str:
            return escape(value)
        if kind is int:
            return str(value)
        if value is None:
            return "\\N"
        if kind is bool:
            return "t" if value else "f"
        key = (kind, value)  # keyed by type too: 1 == True == Decimal(1)
        text = memo.get(key)
        if text is None:
            text = memo[key] = escape(str(value))
        return text

    return "".join(["\t".join([cell(value) for value in row]) + "\n" for row in rows])


def ids_take(model, count: int) -> list[int]:
    """``count`` new primary keys of ``model``'s table, taken from its own
    counter (PostgreSQL's sequence, SQLite's AUTOINCREMENT row) so that no
    other insert can be given them: for rows written later in the
    transaction, or referenced before they are written (foreign keys are
    checked at commit)."""
    from django.db import connection

    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)", [count]
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the AUTOINCREMENT counter moved under the database's writer
        # lock, past the table's largest id too (a row inserted with its own).
        cursor.execute(
            "INSERT INTO sqlite_sequence (name, seq) SELECT %s, 0 WHERE NOT EXISTS "
            "(SELECT 1 FROM sqlite_sequence WHERE name = %s)",
            [table, table],
        )
        cursor.execute(
            f"UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(id), 0) FROM {table})) + %s "
            "WHERE name = %s RETURNING seq",
            [count, table],
        )
        last = cursor.fetchone()[0]
    return list(range(last - count + 1, last + 1))


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
            for _ in _values_statements(cursor, table, names, rows, tail):
                if returning:
                    found += [tuple(row) for row in cursor.fetchall()]
    return found


def _copy_rows(connection, table, model, columns, rows, returning) -> list[tuple]:
    import io

    if returning:
        rows = [(pk, *row) for pk, row in zip(ids_take(model, len(rows)), rows, strict=True)]
        columns = ("id", *columns)
    names = ", ".join(model._meta.get_field(c).column for c in columns)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", io.StringIO(_copy_text(rows)))
    if not returning:
        return []
    positions = [columns.index(c) for c in returning]
    return [tuple(row[i] for i in positions) for row in rows]


class _AnyOf(Lookup):
    """``lhs = ANY(%s)``: an id list as one array parameter."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, self.rhs)


def ids_in(field: str, ids):
    """A filter for ``field`` among many integer ids (a batch's accounts):
    ``field__in=ids``, but on PostgreSQL one array parameter, since the ORM
    prepares every member of an IN list one by one (a sweep batch reads five
    such lists of a thousand)."""
    from django.db import connection

    ids = list(ids)
    if connection.vendor == "postgresql":
        return _AnyOf(F(field), ids)
    return Q(**{f"{field}__in": ids})
