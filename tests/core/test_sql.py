"""core.sql: the hot paths' raw writes, on PostgreSQL and SQLite alike."""

import datetime
from decimal import Decimal

import pytest

from core.sql import _copy_text, ids_in, ids_take, update_from_arrays
from tenants.models import Reseller

pytestmark = pytest.mark.django_db


def test_ids_taken_are_new_and_never_given_to_a_later_insert():
    first = Reseller.objects.create(ref="r1", name="One", invoice_prefix="ONE")
    taken = ids_take(Reseller, 3)
    assert len(set(taken)) == 3
    assert min(taken) > first.pk
    # Rows written later with the ids taken, and one the database numbers itself.
    Reseller.objects.create(pk=taken[0], ref="r2", name="Two", invoice_prefix="TWO")
    later = Reseller.objects.create(ref="r3", name="Three", invoice_prefix="THREE")
    assert later.pk > max(taken)
    assert ids_take(Reseller, 1)[0] > later.pk


def test_ids_taken_on_a_table_that_never_had_a_row():
    taken = ids_take(Reseller, 2)
    assert taken[1] == taken[0] + 1
    assert Reseller.objects.create(ref="r1", name="One", invoice_prefix="ONE").pk > taken[1]


def test_ids_in_filters_as_an_in_list_does():
    rows = [Reseller.objects.create(ref=f"r{n}", name=f"R{n}", invoice_prefix=f"R{n}") for n in range(4)]
    wanted = [rows[0].pk, rows[2].pk]
    assert sorted(Reseller.objects.filter(ids_in("pk", wanted)).values_list("pk", flat=True)) == wanted
    assert not Reseller.objects.filter(ids_in("pk", [])).exists()


def test_copy_text_formats_each_value_by_its_type_even_when_they_compare_equal():
    day = datetime.date(2026, 12, 10)
    rows = [
        (1, True, Decimal("1"), "a\tb\\c\nd", None, day),
        (True, 1, Decimal("1.00"), "", False, day),
    ]
    assert _copy_text(rows) == ("1\tt\t1\ta\\tb\\\\c\\nd\t\\N\t2026-12-10\nt\t1\t1\t\tf\t2026-12-10\n")


def test_update_from_arrays_updates_each_row_by_its_key_and_counts_them():
    rows = [Reseller.objects.create(ref=f"r{n}", name=f"R{n}", invoice_prefix=f"R{n}") for n in range(3)]
    names = ['Acme "West", \\ {1,2}', "Nimbus", "O'Brien"]
    updated = update_from_arrays(
        "tenants_reseller",
        (("id", "bigint"), ("name", "text"), ("old", "text")),
        [(row.pk, name, row.name) for row, name in zip(rows, names, strict=True)] + [(10**9, "nobody", "x")],
        set_sql="name = v.name",
        where_sql="tenants_reseller.id = v.id AND tenants_reseller.name = v.old",
        key="id",
    )
    assert updated == 3
    assert [Reseller.objects.get(pk=row.pk).name for row in rows] == names
