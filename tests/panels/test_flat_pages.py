"""The long lists stay flat: the renewal center shows a page of its tab, in
the same queries for 3 orders as for 30, its running "funds cover" total
going on across pages, and "renew all" takes the whole tab on the server;
the reseller's failing customers are one set, counted alike in the stats,
the filter and each row."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order
from renewals.models import BatchOutcome, OrderOutcome
from renewals.rules import Reason
from renewals.selectors import customer_counts, customers_of
from tenants.scope import actor_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


def add_orders(tenants, n: int, *, tab: str = "auto", customer: str = "c1") -> None:
    """``n`` more orders of the customer's, in the renewal center's ``tab``,
    expiring one day after another from 10 days on (grace: 1 to n days ago)."""
    template = tenants.orders["o1"]
    fields = {
        "auto": {"auto_renew": True},
        "manual": {"auto_renew": False},
        "grace": {"auto_renew": True, "status": "suspended"},
    }[tab]
    start = Order.objects.count()
    Order.objects.bulk_create(
        Order(
            ref=f"{tab}{start + i}",
            customer=tenants.customers[customer],
            plan=template.plan,
            tenure_months=1,
            expires_on=tenants.days(-1 - i if tab == "grace" else 10 + i),
            **fields,
        )
        for i in range(n)
    )


def queries(client, path: str, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params).status_code == 200
    return len(captured)


def ticks(html: str) -> int:
    return html.count('type="checkbox" name="order"')


def chosen(html: str, orders) -> list:
    """The orders the renewal page holds (its hidden order fields)."""
    return [o for o in orders if f'name="order" value="{o.pk}"' in html]


@pytest.mark.parametrize(("tab", "count"), [("manual", 13), ("auto", 12), ("grace", 12)])
def test_the_renewal_center_runs_the_same_queries_for_3_and_30_orders(
    owner, tenants, tab, count, django_assert_num_queries
):
    add_orders(tenants, 3, tab=tab)
    small = queries(owner, reverse("renewals"), tab=tab)
    add_orders(tenants, 27, tab=tab)
    # 1 the session, 2 the user, 3 its membership, 4 the plans with their
    # categories (the filters' choices), (manual: the open renewals,) 5 the
    # tab's orders as plain rows (the rule decides them all), 6 their
    # accounts, 7 the prices, 8 the plans with their categories, 9 the
    # reseller tree (the catalog), 10 the page's orders with plan, category
    # and customer, 11 the brand, 12 the unread messages (menu badge).
    with django_assert_num_queries(count):
        html = owner.get(reverse("renewals"), {"tab": tab}).content.decode()
    assert small == count
    assert ticks(html) == 25  # one page


def test_the_renewal_center_pages_its_tabs_and_the_funds_total_runs_on(owner, tenants):
    add_orders(tenants, 30)  # 10.00 each; with o1 and o2, 32 in the auto tab; the balance is 100.00
    first = owner.get(reverse("renewals"), {"tab": "auto"}).content.decode()
    second = owner.get(reverse("renewals"), {"tab": "auto", "page": "2"}).content.decode()
    assert ticks(first) == 25
    assert ticks(second) == 7
    assert "Page 2 of 2 · 32 in all" in second
    assert 'href="?tab=auto&amp;page=2"' in first  # the tab stays when paging
    # The running total is the whole tab's, in date order: the last rows are past what 100.00 covers.
    assert "covered" in first
    assert "covered" not in second
    assert "top up" in second
    assert "Renew all 32" in first


def test_renew_all_takes_every_page_of_the_tab(owner, tenants):
    add_orders(tenants, 30)
    html = owner.get(reverse("renew"), {"all_in": "auto"}).content.decode()
    ids = {str(pk) for pk in Order.objects.filter(customer=tenants.customers["c1"], auto_renew=True)
           .exclude(plan__ref="cert").values_list("pk", flat=True)}  # fmt: skip
    assert len(ids) == 32
    assert all(f'name="order" value="{pk}"' in html for pk in ids)


def test_renew_all_takes_at_most_a_batch_the_soonest_first(owner, tenants, monkeypatch):
    monkeypatch.setattr("panels.views.customer.MAX_BATCH_ORDERS", 5)
    add_orders(tenants, 30)
    center = owner.get(reverse("renewals"), {"tab": "auto"}).content.decode()
    assert "Renew the first 5 of all 32" in center
    html = owner.get(reverse("renew"), {"all_in": "auto"}).content.decode()
    taken = chosen(html, Order.objects.filter(customer=tenants.customers["c1"]))
    assert sorted(o.expires_on for o in taken) == [tenants.days(5), tenants.days(10), tenants.days(11),
                                                    tenants.days(12), tenants.days(13)]  # fmt: skip


def test_renew_all_is_the_signed_in_customers_own(client, tenants):
    add_orders(tenants, 3)
    for user, customer in (("colleague", "c1"), ("outsider", "c9")):
        client.force_login(tenants.users[user])
        html = client.get(reverse("renew"), {"all_in": "auto"}).content.decode()
        shown = {o.customer.ref for o in chosen(html, Order.objects.select_related("customer"))}
        assert shown == {customer}, user


def test_renew_all_needs_a_renewable_tab_and_ticks_win(owner, tenants):
    response = owner.get(reverse("renew"), {"all_in": "cancelled"}, follow=True)
    assert "Tick at least one order to renew." in response.content.decode()
    o2 = tenants.orders["o2"]
    html = owner.get(reverse("renew"), {"all_in": "auto", "order": o2.pk}).content.decode()
    assert chosen(html, Order.objects.all()) == [o2]


def fail(order, *, cycle: datetime.date | None = None) -> None:
    OrderOutcome.objects.create(
        order=order,
        business_date=order.expires_on - datetime.timedelta(days=1),
        cycle=cycle or order.expires_on,
        outcome=BatchOutcome.FAILED,
        reason=Reason.INSUFFICIENT_FUNDS,
    )


def test_failing_customers_are_one_set_counted_alike_everywhere(tenants):
    fail(tenants.orders["o4"])  # c2's renewal failed for its current cycle: failing
    fail(tenants.orders["o1"], cycle=tenants.days(-25))  # c1's failed a cycle ago: renewed since, not failing
    fail(tenants.orders["o9"])  # another reseller's customer
    actor = actor_for_user(tenants.users["acme"])
    rows = {c.ref: c.failed_renewals for c in customers_of(actor=actor)}
    assert rows == {"c1": 0, "c2": 1}
    assert [c.ref for c in customers_of(actor=actor, failing_only=True)] == ["c2"]
    assert customer_counts(actor=actor) == {"customers": 2, "failing": 1}
    Order.objects.filter(pk=tenants.orders["o4"].pk).update(status="suspended")  # no longer an active failure
    assert customer_counts(actor=actor) == {"customers": 2, "failing": 0}
    assert list(customers_of(actor=actor, failing_only=True)) == []
