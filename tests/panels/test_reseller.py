"""The reseller control panel: a reseller sees and manages its own subtree
(sub-resellers' customers included) and nothing else; every id from another
tenant is a 404 that changes nothing."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from balances.models import Account
from core.errors import DomainError
from notifications.models import Notice, NoticeKind
from orders.models import Order
from orders.services import order_set_flags
from renewals.models import BatchAttempt
from renewals.rules import Reason
from renewals.selectors import failed_batches
from tenants.models import Customer
from tenants.scope import actor_for_user

pytestmark = pytest.mark.django_db


def night(day: datetime.date) -> None:
    """The nightly run for one business date, as the scheduler runs it."""
    call_command("run_renewals", "--date", day.isoformat(), verbosity=0)


def signed_in(client, tenants, username):
    client.force_login(tenants.users[username])
    return client


def page(client, name, *args, **params):
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200
    return response.content.decode()


def post(client, name, *args, **data):
    return client.post(reverse(name, args=args), data)


def switches(order: Order) -> tuple[bool, bool]:
    order.refresh_from_db()
    return order.auto_renew, order.auto_renew_locked


# Pages and what each must show ------------------------------------------------


LIST_PAGES = ("reseller-customers", "reseller-preview", "reseller-failures", "reseller-resellers", "reseller-messages")


def test_every_page_shows_the_subtree_and_nothing_else(client, tenants):
    night(tenants.days(-1))  # yesterday c1 and c2 failed: failures and messages to show; tonight is still ahead
    # On which pages each reseller finds each customer (c2's failure notice goes to west, its own reseller).
    expected = {
        "acme": {
            "Jane Doe": set(LIST_PAGES) - {"reseller-resellers"},
            "Wes Tern": set(LIST_PAGES[:3]),
            "Olga Other": set(),
        },
        "west": {"Jane Doe": set(), "Wes Tern": set(LIST_PAGES) - {"reseller-resellers"}, "Olga Other": set()},
        # c9's order renewed last night: not due again, not failed.
        "other": {"Jane Doe": set(), "Wes Tern": set(), "Olga Other": {"reseller-customers"}},
    }
    for username, names in expected.items():
        client = signed_in(client, tenants, username)
        html = {name: page(client, name) for name in LIST_PAGES}
        for customer_name, pages in names.items():
            assert {name for name in LIST_PAGES if customer_name in html[name]} == pages, (username, customer_name)
    client = signed_in(client, tenants, "acme")
    for ref in ("c1", "c2"):
        assert tenants.customers[ref].name in page(client, "reseller-customer", tenants.customers[ref].pk)


def test_customer_list_shows_the_whole_subtree_with_its_reseller(client, tenants):
    html = page(signed_in(client, tenants, "acme"), "reseller-customers")
    assert "Jane Doe" in html
    assert "Wes Tern" in html  # a customer of the sub-reseller west
    assert "Acme West" in html  # ... shown with its reseller
    assert "Olga Other" not in html
    assert "100.00 USD" in html


def test_a_sub_reseller_sees_only_its_own_customers(client, tenants):
    html = page(signed_in(client, tenants, "west"), "reseller-customers")
    assert "Wes Tern" in html
    assert "Jane Doe" not in html
    assert "Olga Other" not in html


def test_customer_list_searches_and_filters_failing_customers(client, tenants):
    # Tonight c1 fails (110.00 due, 100.00 on the balance); c2's credit limit covers o4.
    Account.objects.filter(pk=tenants.customers["c2"].pk).update(credit_limit=Decimal("25.00"))
    night(tenants.today)
    client = signed_in(client, tenants, "acme")

    html = page(client, "reseller-customers", q="wes@example")
    assert "Wes Tern" in html
    assert "Jane Doe" not in html

    html = page(client, "reseller-customers", failing="1")
    assert "Jane Doe" in html
    assert "Wes Tern" not in html
    assert '<span class="pill failed">2</span>' in html  # o1 and o2


def test_customer_page_shows_facts_and_orders(client, tenants):
    html = page(signed_in(client, tenants, "acme"), "reseller-customer", tenants.customers["c1"].pk)
    for text in ("Jane Doe", "jane@example.test", "Acme Hosting", "100.00 USD", "Credit limit", "o1", "o2", "o3"):
        assert text in html
    assert "Web hosting" in html
    assert "SSL" in html
    assert tenants.days(5).isoformat() in html  # o1's paid-thru date


def test_customer_page_marks_expiring_and_suspended_orders(client, tenants):
    Order.objects.filter(pk=tenants.orders["o4"].pk).update(status="suspended", expires_on=tenants.days(-2))
    html = page(signed_in(client, tenants, "acme"), "reseller-customer", tenants.customers["c2"].pk)
    assert '<tr class="suspended">' in html
    assert '<span class="muted">expired</span>' in html
    html = page(client, "reseller-customer", tenants.customers["c1"].pk)
    assert html.count('<tr class="expiring">') == 2  # o1 (5 days left) and o2 (20), not o3 (40)


def test_a_reseller_manages_its_sub_resellers_customers(client, tenants):
    client = signed_in(client, tenants, "acme")
    html = page(client, "reseller-customer", tenants.customers["c2"].pk)
    assert "Wes Tern" in html
    assert "o4" in html
    response = post(client, "reseller-customer", tenants.customers["c2"].pk, action="forbid")
    assert response.status_code == 302
    assert not Customer.objects.get(pk=tenants.customers["c2"].pk).allow_auto_renew


def test_sub_resellers_page_lists_the_subtree_below(client, tenants):
    html = page(signed_in(client, tenants, "acme"), "reseller-resellers")
    assert "Acme West" in html
    assert "west@acme.test" in html
    assert "Other Hosting" not in html
    assert "You have no sub-resellers." in page(signed_in(client, tenants, "west"), "reseller-resellers")


def test_failures_page_lists_the_subtrees_failed_batches(client, tenants):
    night(tenants.today)
    html = page(signed_in(client, tenants, "acme"), "reseller-failures")
    assert "Jane Doe" in html
    assert "Wes Tern" in html
    assert Reason.INSUFFICIENT_FUNDS.label.replace("'", "&#x27;") in html
    assert "110.00 USD" in html  # c1's batch: o1 10.00 + o2 100.00

    html = page(signed_in(client, tenants, "west"), "reseller-failures")
    assert "Wes Tern" in html
    assert "Jane Doe" not in html

    html = page(signed_in(client, tenants, "other"), "reseller-failures")
    assert "No renewal failed" in html


def test_failed_batches_keeps_only_the_last_days(tenants):
    night(tenants.today)
    old = BatchAttempt.objects.get(customer=tenants.customers["c1"])
    BatchAttempt.objects.filter(pk=old.pk).update(business_date=tenants.days(-30))
    acme = actor_for_user(tenants.users["acme"])
    assert [b.customer.ref for b in failed_batches(actor=acme)] == ["c2"]
    assert {b.customer.ref for b in failed_batches(actor=acme, since_days=31)} == {"c1", "c2"}


def test_messages_list_and_detail_mark_the_message_read(client, tenants):
    night(tenants.today)  # tells each failing customer's own reseller
    client = signed_in(client, tenants, "acme")
    notice = Notice.objects.get(kind=NoticeKind.RESELLER_FAILURE, reseller=tenants.resellers["acme"])
    subject = notice.rendered().subject

    html = page(client, "reseller-messages")
    assert f"<strong>{subject}</strong>" in html  # unread
    assert "Wes Tern" not in html  # c2's failure went to west, not to acme

    html = page(client, "reseller-message-detail", notice.pk)
    assert subject in html
    # The mail's HTML is shown escaped inside a sandboxed frame, never as part of the page.
    assert 'sandbox srcdoc="&lt;!doctype html&gt;' in html
    assert html.lower().count("<!doctype") == 1
    assert "Jane Doe" in html
    notice.refresh_from_db()
    assert notice.read_at is not None
    assert f"<strong>{subject}</strong>" not in page(client, "reseller-messages")


# Tenant isolation --------------------------------------------------------------


def test_another_reseller_gets_404_for_every_id_and_changes_nothing(client, tenants):
    night(tenants.today)
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    notice = Notice.objects.get(kind=NoticeKind.RESELLER_FAILURE, reseller=tenants.resellers["acme"])
    before = (switches(o1), Customer.objects.get(pk=c1.pk).allow_auto_renew)
    client = signed_in(client, tenants, "other")

    assert client.get(reverse("reseller-customer", args=[c1.pk])).status_code == 404
    for action in ("auto_renew_off", "lock"):
        # Posted from other's own customer page, naming acme's order.
        response = post(client, "reseller-customer", tenants.customers["c9"].pk, action=action, order=o1.pk)
        assert response.status_code == 404
        # ... or from acme's customer page.
        assert post(client, "reseller-customer", c1.pk, action=action, order=o1.pk).status_code == 404
    for action in ("forbid", "allow"):
        assert post(client, "reseller-customer", c1.pk, action=action).status_code == 404
    assert client.get(reverse("reseller-message-detail", args=[notice.pk])).status_code == 404

    assert (switches(o1), Customer.objects.get(pk=c1.pk).allow_auto_renew) == before
    notice.refresh_from_db()
    assert notice.read_at is None


def test_a_sub_reseller_cannot_reach_its_parents_customers(client, tenants):
    client = signed_in(client, tenants, "west")
    c1 = tenants.customers["c1"]
    assert client.get(reverse("reseller-customer", args=[c1.pk])).status_code == 404
    assert post(client, "reseller-customer", c1.pk, action="forbid").status_code == 404
    assert Customer.objects.get(pk=c1.pk).allow_auto_renew


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("reseller-customers", []),
        ("reseller-customer", ["c1"]),
        ("reseller-preview", []),
        ("reseller-failures", []),
        ("reseller-resellers", []),
        ("reseller-messages", []),
    ],
)
def test_customers_get_404_and_anonymous_signs_in(client, tenants, name, args):
    url = reverse(name, args=[tenants.customers[a].pk for a in args])
    assert signed_in(client, tenants, "owner").get(url).status_code == 404
    client.logout()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_customer_cannot_post_reseller_actions(client, tenants):
    c1 = tenants.customers["c1"]
    client = signed_in(client, tenants, "owner")
    assert post(client, "reseller-customer", c1.pk, action="lock", order=tenants.orders["o1"].pk).status_code == 404
    assert post(client, "reseller-customer", c1.pk, action="forbid").status_code == 404
    assert switches(tenants.orders["o1"]) == (True, False)
    assert Customer.objects.get(pk=c1.pk).allow_auto_renew


# Switches ------------------------------------------------------------------


def test_a_locked_switch_cannot_be_changed_by_the_customer(client, tenants):
    o1 = tenants.orders["o1"]
    client = signed_in(client, tenants, "acme")
    response = post(client, "reseller-customer", tenants.customers["c1"].pk, action="lock", order=o1.pk, ref="o1")
    assert response.status_code == 302
    assert switches(o1) == (True, True)
    assert "the customer can&#x27;t change" in page(client, "reseller-customer", tenants.customers["c1"].pk)

    owner = actor_for_user(tenants.users["owner"])
    with pytest.raises(DomainError) as refused:
        order_set_flags(actor=owner, order_id=o1.pk, auto_renew=False)
    assert refused.value.code == "auto_renew_locked"
    assert switches(o1) == (True, True)

    # The reseller still may, and unlocking gives the switch back to the customer.
    post(client, "reseller-customer", tenants.customers["c1"].pk, action="auto_renew_off", order=o1.pk)
    assert switches(o1) == (False, True)
    post(client, "reseller-customer", tenants.customers["c1"].pk, action="unlock", order=o1.pk)
    order_set_flags(actor=owner, order_id=o1.pk, auto_renew=True)
    assert switches(o1) == (True, False)


def test_switching_auto_renew_says_what_happened(client, tenants):
    o3 = tenants.orders["o3"]
    client = signed_in(client, tenants, "acme")
    url = reverse("reseller-customer", args=[tenants.customers["c1"].pk])
    response = client.post(url, {"action": "auto_renew_on", "order": o3.pk, "ref": "o3"}, follow=True)
    assert "Auto-renew is now on for order o3." in response.content.decode()
    assert switches(o3) == (True, False)

    response = client.post(url, {"action": "auto_renew_on", "order": o3.pk, "ref": "o3"}, follow=True)
    assert "nothing changed" in response.content.decode()

    response = client.post(url, {"action": "explode", "order": o3.pk}, follow=True)
    assert "That action is not known here" in response.content.decode()


def test_forbidding_auto_renew_skips_the_customers_orders_tonight(client, tenants):
    c2 = tenants.customers["c2"]
    client = signed_in(client, tenants, "acme")
    response = client.post(reverse("reseller-customer", args=[c2.pk]), {"action": "forbid"}, follow=True)
    assert "Auto-renew is now forbidden for Wes Tern." in response.content.decode()
    assert not Customer.objects.get(pk=c2.pk).allow_auto_renew

    html = page(client, "reseller-preview")
    section = html[html.index("Wes Tern") :]
    assert "o4" in section
    assert "Skipped" in section
    assert Reason.NOT_ALLOWED_BY_RESELLER.label in section

    post(client, "reseller-customer", c2.pk, action="allow")
    assert Customer.objects.get(pk=c2.pk).allow_auto_renew
    assert Reason.NOT_ALLOWED_BY_RESELLER.label not in page(client, "reseller-preview")


# Tonight's sweep -------------------------------------------------------------


def test_preview_shows_each_failing_customers_shortfall(client, tenants):
    o4 = tenants.orders["o4"]
    # o4: 1 month, so its window opens 7 days before expiry; at today + 6 it is due today.
    assert o4.tenure_months == 1
    assert o4.expires_on == tenants.days(6)
    html = page(signed_in(client, tenants, "acme"), "reseller-preview")
    assert "nothing is charged" in html
    assert tenants.today.strftime("%-d %B %Y") in html  # today's run has not happened yet

    wes = html[html.index("Wes Tern") :]
    assert "Will fail" in wes
    assert "Short by <strong>10.00 USD</strong>" in wes  # o4 costs 10.00, the balance is 0.00
    # c1: o1 (10.00) and o2 (100.00, due 30 days ahead at 12 months) against 100.00.
    jane = html[html.index("Jane Doe") : html.index("Wes Tern")]
    assert "Short by <strong>10.00 USD</strong>" in jane
    assert "Olga Other" not in html
    assert "Top up your balance" in html  # what to do


def test_preview_of_a_customer_that_will_renew(client, tenants):
    Account.objects.filter(pk=tenants.customers["c2"].pk).update(credit_limit=Decimal("25.00"))
    html = page(signed_in(client, tenants, "west"), "reseller-preview")
    assert '<span class="pill renewed">Will renew</span>' in html
    assert '<span class="pill failed">Will fail</span>' not in html
    assert "10.00 from the balance" in html
    assert "Jane Doe" not in html


def test_preview_after_tonights_run_is_of_the_next_night(client, tenants):
    night(tenants.today)
    html = page(signed_in(client, tenants, "acme"), "reseller-preview")
    assert tenants.days(1).strftime("%-d %B %Y") in html


# Speed -----------------------------------------------------------------------


def add_customers(tenants, count: int) -> None:
    start = Customer.objects.count()
    customers = Customer.objects.bulk_create(
        Customer(
            ref=f"bulk{n}", name=f"Bulk {n:05d}", email=f"bulk{n}@example.test", reseller=tenants.resellers["west"]
        )
        for n in range(start, start + count)
    )
    Account.objects.bulk_create(Account(customer=c, currency="USD") for c in customers)


def customer_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        page(client, "reseller-customers")
    return len(queries)


def test_customer_list_queries_do_not_grow_with_the_customers(client, tenants):
    client = signed_in(client, tenants, "acme")
    add_customers(tenants, 10)
    page(client, "reseller-customers")  # the first look makes the calendar feed (calendars.services)
    small = customer_list_queries(client)
    add_customers(tenants, 990)
    # 1 the session, 2 the user, 3 its membership, 4 its reseller (the actor's
    # subtree path), 5 the number of customers in the list (pagination), 6 the
    # customers and the failing ones (the stats, one aggregate), 7 the
    # calendar feed (its link on the page), 8 the brand, 9 the unread
    # messages (menu badge), 10 one page of customers with their balance,
    # reseller and order counts (subqueries, not a query per row).
    assert customer_list_queries(client) == small == 10
    assert page(client, "reseller-customers").count('href="/reseller/customers/') == 25  # one page
