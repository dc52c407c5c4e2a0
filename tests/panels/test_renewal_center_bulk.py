"""The renewal center (SPEC "Open renewals", "Bulk changes"): its manual tab
lists the open renewals first and pays two of them in one step; its orders
move to manual or auto renewal in bulk, the selected ones or all of the tab
and filter, the reseller's locked ones skipped and named; and it filters by
product, category, status and expiry, the filters surviving paging.

The portal (tests/panels/conftest.py): c1 (balance 100.00) holds o1 (Basic,
1 month, expires in 5 days, auto), o2 (Basic, 12 months, in 20 days, auto) and
o3 (Cert, 12 months, in 40 days, manual); c9 (another reseller's) holds o9."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from balances.services import ledger_post
from invoices.models import Invoice
from orders.models import Order
from renewals.facts import load_catalog
from renewals.open import open_renewals_sync
from tenants.scope import Actor
from tests.helpers import hidden_fields, renewal_form

pytestmark = pytest.mark.django_db

CENTER = reverse("renewals")


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


def add(tenants, ref: str, days: int, *, plan: str = "o1", auto_renew: bool = False, **fields) -> Order:
    """An order of c1's like ``plan``'s order (o1: Basic, o3: Cert), expiring in ``days``."""
    template = tenants.orders[plan]
    return Order.objects.create(
        ref=ref, customer=template.customer, plan=template.plan, tenure_months=template.tenure_months,
        expires_on=tenants.days(days), auto_renew=auto_renew, **fields,
    )  # fmt: skip


def shown(html: str, *refs: str) -> list[str]:
    """Which of ``refs`` the page lists, in the page's order."""
    return sorted((ref for ref in refs if f">{ref}</a>" in html), key=lambda ref: html.index(f">{ref}</a>"))


def center(client, **params) -> str:
    response = client.get(CENTER, params)
    assert response.status_code == 200
    return response.content.decode()


def post(client, params: dict, data: dict):
    """A form of the center posted to the tab and filter it was drawn for."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"{CENTER}?{query}", data, follow=True)


def auto_renew(*orders) -> list[bool]:
    return [Order.objects.get(pk=o.pk).auto_renew for o in orders]


# Open renewals


def test_open_renewals_come_first_and_two_are_paid_in_one_step(owner, tenants):
    # given the open renewals of tonight: o1 (1 month, 10.00) and o2 (12 months, 100.00), both auto-renewing
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    open_renewals_sync(tenants.today, load_catalog())
    ledger_post(actor=Actor.system("test"), account_id=o1.customer_id, amount=Decimal("50.00"), kind="adjustment")
    # the manual tab lists them first, with their period and amount, then the order that will not renew by itself
    html = center(owner, tab="manual")
    assert shown(html, "o1", "o2", "o3", "o9") == ["o1", "o2", "o3"]
    assert f"Waiting for payment: pay by {o1.expires_on}." in html
    assert "12 months · 100.00 USD" in html
    # when the customer ticks both and renews them
    fields = hidden_fields(html)
    response = owner.post(
        f"{CENTER}?tab=manual",
        {"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"][0], "action": "renew", "order": [o1.pk, o2.pk],
         f"months_{o1.pk}": fields[f"months_{o1.pk}"][0], f"months_{o2.pk}": fields[f"months_{o2.pk}"][0]},
    )  # fmt: skip
    # then the renewal page holds both, each for its open renewal's period, and one payment pays both
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse("renew")
    choices = {key: values if key == "order" else values[0] for key, values in parse_qs(target.query).items()}
    assert choices[f"months_{o2.pk}"] == "12"
    paid = owner.post(reverse("renew"), {**renewal_form(owner, choices), "action": "pay"}, follow=True)
    assert "Renewed 2 orders: 110.00 USD paid" in paid.content.decode()
    invoice = Invoice.objects.get()
    assert sorted(invoice.lines.values_list("order__ref", "months", "amount")) == [
        ("o1", 1, Decimal("10.00")),
        ("o2", 12, Decimal("100.00")),
    ]


def test_renew_all_of_the_manual_tab_takes_each_open_renewal_at_its_period(owner, tenants):
    o2 = tenants.orders["o2"]
    open_renewals_sync(tenants.today, load_catalog())
    html = owner.get(reverse("renew"), {"all_in": "manual"}).content.decode()
    assert all(f'name="order" value="{tenants.orders[ref].pk}"' in html for ref in ("o1", "o2", "o3"))
    assert '<option value="12" data-amount="100.00" selected>' in html.split(f'name="months_{o2.pk}"')[1]


def test_the_open_renewals_follow_the_filters(owner, tenants):
    open_renewals_sync(tenants.today, load_catalog())
    assert shown(center(owner, tab="manual", within="7"), "o1", "o2", "o3") == ["o1"]
    assert shown(center(owner, tab="manual", plan="cert"), "o1", "o2", "o3") == ["o3"]


# Bulk moves


def test_moving_the_selected_orders_skips_the_locked_one_and_says_which_and_why(owner, tenants):
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    Order.objects.filter(pk=o1.pk).update(auto_renew_locked=True)
    html = post(owner, {"tab": "auto"}, {"scope": "selected", "move": "to-manual", "order": [o1.pk, o2.pk]})
    page = html.content.decode()
    assert "Moved 1 order to manual renewal." in page
    assert "Skipped 1 order (o1): your provider locked its renewal; ask them to change it." in page
    assert auto_renew(o1, o2) == [True, False]
    # back on the same tab, which o2 has left
    assert shown(page, "o1", "o2") == ["o1"]
    assert AuditEvent.objects.filter(action="order.auto_renew", target_ref="o2", after=False).exists()


def test_move_all_acts_on_the_filtered_set_only(owner, tenants):
    # given, in the manual tab, o3 (Cert, in 40 days), m1 (Basic, in 10 days) and m2 (Basic, in 50 days)
    o3 = tenants.orders["o3"]
    m1, m2 = add(tenants, "m1", 10), add(tenants, "m2", 50)
    assert shown(center(owner, tab="manual"), "o3", "m1", "m2") == ["m1", "o3", "m2"]
    # when the customer moves all of those expiring within 30 days to auto renewal
    page = post(owner, {"tab": "manual", "within": "30"}, {"scope": "all", "move": "to-auto"}).content.decode()
    # then m1 alone moved
    assert "Moved 1 order to auto renewal." in page
    assert auto_renew(m1, m2, o3) == [True, False, False]
    # and all of the Cert product: o3 (its category never renews by itself, so it stays in the manual tab)
    page = post(owner, {"tab": "manual", "plan": "cert"}, {"scope": "all", "move": "to-auto"}).content.decode()
    assert "Moved 1 order to auto renewal." in page
    assert auto_renew(m1, m2, o3) == [True, False, True]


def test_move_all_to_manual_from_the_auto_tab_says_what_was_skipped(owner, tenants):
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    Order.objects.filter(pk=o2.pk).update(auto_renew_locked=True)
    page = post(owner, {"tab": "auto"}, {"scope": "all", "move": "to-manual"}).content.decode()
    assert "Moved 1 order to manual renewal." in page
    assert "Skipped 1 order (o2)" in page
    assert auto_renew(o1, o2) == [False, True]


def test_bad_bulk_input_changes_nothing_and_says_why(owner, tenants):
    o1 = tenants.orders["o1"]
    cases = [
        ({"scope": "selected", "move": "to-manual"}, "Tick at least one order to move."),
        ({"scope": "selected", "move": "sideways", "order": [o1.pk]},
         "Move orders to-manual or to-auto, not &#x27;sideways&#x27;."),
        ({"scope": "selected", "move": "to-manual", "order": ["x"]}, "An order number must be a whole number"),
        ({"scope": "everything", "move": "to-manual"}, "Move the selected orders or all, not &#x27;everything&#x27;."),
    ]  # fmt: skip
    for data, said in cases:
        assert said in post(owner, {"tab": "auto"}, data).content.decode(), data
    page = post(owner, {"tab": "grace"}, {"scope": "all", "move": "to-manual"}).content.decode()
    assert "Only the manual and auto renewal tabs move their orders in bulk." in page
    assert auto_renew(o1) == [True]


def test_another_tenants_order_is_a_404_and_a_colleague_moves_the_accounts_own(client, tenants):
    o1, o9 = tenants.orders["o1"], tenants.orders["o9"]
    client.force_login(tenants.users["owner"])
    response = client.post(f"{CENTER}?tab=auto", {"scope": "selected", "move": "to-manual", "order": [o1.pk, o9.pk]})
    assert response.status_code == 404
    client.force_login(tenants.users["outsider"])
    response = client.post(f"{CENTER}?tab=auto", {"scope": "selected", "move": "to-manual", "order": [o1.pk]})
    assert response.status_code == 404
    assert auto_renew(o1, o9) == [True, True]
    # the outsider's "all" is its own tab: o9 alone
    client.post(f"{CENTER}?tab=auto", {"scope": "all", "move": "to-manual"})
    assert auto_renew(o1, o9) == [True, False]
    client.force_login(tenants.users["colleague"])
    client.post(f"{CENTER}?tab=auto", {"scope": "selected", "move": "to-manual", "order": [o1.pk]})
    assert auto_renew(o1) == [False]


def test_the_bulk_forms_are_on_the_manual_and_auto_tabs(owner, tenants):
    Order.objects.filter(pk=tenants.orders["o1"].pk).update(status="suspended", expires_on=tenants.days(-2))
    for tab, movable in (("manual", True), ("auto", True), ("grace", False)):
        html = center(owner, tab=tab)
        assert ('value="to-auto"' in html) == movable, tab
        assert ('id="bulk-all"' in html) == movable, tab


# Filters


def test_the_filters_by_product_category_status_and_expiry(owner, tenants):
    add(tenants, "m1", 10)
    add(tenants, "m2", 50)
    add(tenants, "c2", 25, plan="o3")
    every = ("o3", "m1", "m2", "c2")
    assert shown(center(owner, tab="manual"), *every) == ["m1", "c2", "o3", "m2"]
    assert shown(center(owner, tab="manual", plan="basic"), *every) == ["m1", "m2"]
    assert shown(center(owner, tab="manual", category="ssl"), *every) == ["c2", "o3"]
    assert shown(center(owner, tab="manual", status="suspended"), *every) == []
    assert shown(center(owner, tab="manual", within="30"), *every) == ["m1", "c2"]
    range_ = {"expires_from": tenants.days(20).isoformat(), "expires_to": tenants.days(45).isoformat()}
    assert shown(center(owner, tab="manual", **range_), *every) == ["c2", "o3"]
    # "within" and a range: the sooner end wins
    assert shown(center(owner, tab="manual", within="30", **range_), *every) == ["c2"]
    assert shown(center(owner, tab="manual", plan="cert", within="30"), *every) == ["c2"]


def test_a_bad_filter_is_shown_and_ignored(owner, tenants):
    start, end = tenants.days(30), tenants.days(1)
    html = center(owner, tab="manual", expires_from=start.isoformat(), expires_to=end.isoformat())
    assert f"the range ends ({end}) before it starts ({start})" in html
    assert shown(html, "o3") == ["o3"]
    html = center(owner, tab="manual", plan="nope", within="12")
    assert "Select a valid choice." in html
    assert shown(html, "o3") == ["o3"]


def test_the_filters_survive_paging_and_the_tabs(owner, tenants):
    for i in range(30):
        add(tenants, f"p{i}", 10 + i)
    first = center(owner, tab="manual", plan="basic")
    assert "Page 1 of 2 · 30 in all" in first
    assert 'href="?tab=manual&amp;plan=basic&amp;page=2"' in first
    assert 'href="?tab=auto&amp;plan=basic"' in first
    second = center(owner, tab="manual", plan="basic", page="2")
    assert ">o3</a>" not in second  # Cert, filtered out on every page
    assert "Move all 30 to auto renewal" in second
    # the bulk forms post back to the tab and filter (and the page)
    assert 'action="?tab=manual&amp;plan=basic&amp;page=2"' in second
    # "renew all" takes the filtered tab
    html = owner.get(reverse("renew"), {"all_in": "manual", "plan": "cert"}).content.decode()
    assert f'name="order" value="{tenants.orders["o3"].pk}"' in html
    assert html.count('type="hidden" name="order"') == 1
