"""The customer panel's paying forms (SPEC "Manual renewal"): the amount on
the pay button is the amount charged, and a form sent twice (a double click,
a reload, the back button) charges once and shows the first result.

The portal (tests/panels/conftest.py): c1 (balance 100.00) has o1 (basic,
10.00 a month) and o2 (basic, 27.00 for 3 months); its logins are owner and
colleague.
"""

import html
import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from balances.models import Account, EntryKind, LedgerEntry
from catalog.models import PlanPrice
from invoices.models import Invoice
from once import idempotency
from once import services as once_services
from orders.models import Order
from payments.models import PaymentAttempt
from payments.services import card_add
from tenants.scope import Actor
from tests.helpers import hidden_fields, renewal_form, top_up_form
from tests.payments.test_card_renewals import intents_of
from tests.payments.test_cards import GOOD, tokenise
from tests.renewals.conftest import snapshot_db  # noqa: F401 - the "nothing was written" fixture

RENEW = reverse("renew")


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


@pytest.fixture
def card(tenants, stripe_on):
    c1 = tenants.customers["c1"]
    return card_add(actor=Actor.system("test"), account_id=c1.pk, payment_method_id=tokenise(GOOD))


def state(tenants):
    """What a customer's money looks like: balance, invoices, the ledger, o1's paid-thru date."""
    c1 = tenants.customers["c1"]
    return (
        Account.objects.get(pk=c1.pk).balance,
        Invoice.objects.count(),
        list(LedgerEntry.objects.filter(account_id=c1.pk).values_list("kind", "amount")),
        Order.objects.get(pk=tenants.orders["o1"].pk).expires_on,
    )


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.django_db
def test_a_price_changed_after_the_quote_charges_nothing_and_shows_the_new_quote(
    owner,
    tenants,
    snapshot_db,  # noqa: F811
):
    # Given the customer sees a quote of 10.00 + 27.00, then o1's monthly price moves to 12.00
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    choices = {"order": [o1.pk, o2.pk], f"months_{o1.pk}": "1", f"months_{o2.pk}": "3"}
    form = renewal_form(owner, choices)
    assert form["expected_total"] == ["37.00"]
    PlanPrice.objects.filter(plan=o1.plan, months=1).update(amount=Decimal("12.00"))
    before, snapshot = state(tenants), snapshot_db()

    # When they press "Pay 37.00 USD"
    response = owner.post(RENEW, {**form, "payment": "balance", "action": "pay"})

    # Then nothing is charged and the page shows the new quote, with a message and a new pay button
    page = text(response)
    assert response.status_code == 200
    assert "The price changed since the quote (37.00 -> 39.00 USD); nothing was charged. Review the new quote." in page
    assert "Pay 39.00 USD" in page
    assert "Pay 37.00 USD" not in page
    assert state(tenants) == before
    after = snapshot_db()
    assert after[0] == snapshot[0]
    assert {k: v for k, v in after[1].items() if k != "once.IdempotencyKey"} == {
        k: v for k, v in snapshot[1].items() if k != "once.IdempotencyKey"
    }

    # When they pay the new quote as shown
    paid = owner.post(RENEW, {**hidden_fields(page), **choices, "payment": "balance", "action": "pay"}, follow=True)

    # Then they paid what its button said
    invoice = Invoice.objects.get()
    assert f"Renewed 2 orders: 39.00 USD paid, invoice {invoice.number}." in text(paid)
    assert state(tenants)[0] == Decimal("61.00")


@pytest.mark.django_db
def test_a_period_changed_without_updating_the_prices_is_not_paid(owner, tenants):
    # Without JavaScript the customer may pick 12 months and press the 1-month pay button.
    o1 = tenants.orders["o1"]
    form = renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"})
    before = state(tenants)

    response = owner.post(RENEW, {**form, f"months_{o1.pk}": "12", "payment": "balance", "action": "pay"})

    assert "(10.00 -> 100.00 USD); nothing was charged" in text(response)
    assert "Pay 100.00 USD" in text(response)
    assert state(tenants) == before


@pytest.mark.django_db
def test_the_pay_form_sent_twice_pays_once_and_shows_the_first_invoice(owner, tenants):
    o1 = tenants.orders["o1"]
    data = {**renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"}), "payment": "balance", "action": "pay"}

    first = owner.post(RENEW, data)
    second = owner.post(RENEW, data, follow=True)

    invoice = Invoice.objects.get()
    assert first.url == reverse("invoice-detail", args=[invoice.pk])
    assert second.redirect_chain == [(first.url, 302)]
    assert f"Renewed 1 order: 10.00 USD paid, invoice {invoice.number}." in text(second)
    line = invoice.lines.get()
    assert (line.period_start, line.months) == (o1.expires_on, 1)
    assert state(tenants) == (
        Decimal("90.00"),
        1,
        [(EntryKind.OPENING, Decimal("100.00")), (EntryKind.RENEWAL, Decimal("-10.00"))],
        line.period_end,  # renewed one month, once
    )


@pytest.mark.django_db
def test_the_pay_form_sent_twice_by_card_charges_the_card_once(owner, tenants, card):
    o1 = tenants.orders["o1"]
    data = {**renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"}), "payment": "card", "action": "pay"}

    first = owner.post(RENEW, data)
    second = owner.post(RENEW, data)

    invoice = Invoice.objects.get()
    assert first.url == second.url == reverse("invoice-detail", args=[invoice.pk])
    assert [(i.status, i.amount) for i in intents_of("c1")] == [("succeeded", 1000)]
    assert PaymentAttempt.objects.count() == 1
    assert state(tenants)[0] == Decimal("100.00")  # the card paid it: credited, then debited


@pytest.mark.django_db
def test_the_same_form_sent_with_other_choices_pays_nothing_more(owner, tenants):
    o1 = tenants.orders["o1"]
    form = renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"})
    owner.post(RENEW, {**form, "payment": "balance", "action": "pay"})
    paid = state(tenants)

    # the back button, another period, the old form's token and pin
    response = owner.post(RENEW, {**form, f"months_{o1.pk}": "3", "payment": "balance", "action": "pay"})

    assert "This form was already sent with other values and nothing more was charged" in text(response)
    assert state(tenants) == paid


@pytest.mark.django_db
def test_a_paying_form_without_its_token_charges_nothing(owner, tenants, card):
    o1 = tenants.orders["o1"]
    form = renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"})
    before = state(tenants)

    for missing in ("form_token", "expected_total"):
        data = {k: v for k, v in form.items() if k != missing}
        response = owner.post(RENEW, {**data, "payment": "balance", "action": "pay"})
        assert "This form has expired and nothing was charged" in text(response)
        assert "Pay 10.00 USD" in text(response)  # the quote, to pay from a fresh form
    top_up = owner.post(reverse("balance"), {"amount": "25.00"}, follow=True)
    assert "This form has expired and nothing was charged" in text(top_up)

    assert state(tenants) == before
    assert not PaymentAttempt.objects.exists()


@pytest.mark.django_db
def test_the_top_up_form_sent_twice_charges_the_card_once(owner, tenants, card):
    data = top_up_form(owner, "25.00")

    first = owner.post(reverse("balance"), data, follow=True)
    second = owner.post(reverse("balance"), data, follow=True)

    for response in (first, second):
        assert "Added 25.00 USD to your balance." in text(response)
    assert [(i.status, i.amount) for i in intents_of("c1")] == [("succeeded", 2500)]
    assert state(tenants)[:3] == (
        Decimal("125.00"),
        0,
        [(EntryKind.OPENING, Decimal("100.00")), (EntryKind.CARD_TOP_UP, Decimal("25.00"))],
    )
    # a new form is a new top-up
    owner.post(reverse("balance"), top_up_form(owner, "25.00"))
    assert len(intents_of("c1")) == 2


def submitting(browser, data, results, name):
    """A submit of ``data`` in its own thread (so its own connection)."""

    def submit():
        try:
            results[name] = browser.post(RENEW, data)
        finally:
            connections.close_all()

    thread = threading.Thread(target=submit)
    thread.start()
    return thread


def signed_in_tabs(tenants, n):
    tabs = [Client() for _ in range(n)]
    for tab in tabs:
        tab.force_login(tenants.users["owner"])
    return tabs


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_submit_while_the_first_pays_from_the_balance_shows_the_first_invoice(tenants, monkeypatch):
    # Given the first submit of the pay form is inside its payment, held there until the second submit claims
    # the same token (a double click, two real requests)
    o1 = tenants.orders["o1"]
    first_tab, second_tab = signed_in_tabs(tenants, 2)
    form = renewal_form(first_tab, {"order": [o1.pk], f"months_{o1.pk}": "1"})
    data = {**form, "payment": "balance", "action": "pay"}
    paying, second_claims = threading.Event(), threading.Event()
    real_pay, real_claim = once_services.renewal_pay, idempotency.idempotency_claim
    claims = []

    def held(**kwargs):
        paying.set()
        assert second_claims.wait(timeout=30)
        return real_pay(**kwargs)

    def claim(**kwargs):
        claims.append(kwargs["key"])
        if len(claims) == 2:
            second_claims.set()
        return real_claim(**kwargs)

    monkeypatch.setattr(once_services, "renewal_pay", held)
    monkeypatch.setattr(idempotency, "idempotency_claim", claim)
    results = {}

    # When both run: the balance payment and its stored answer commit together, so the second
    # meets the first's claim and waits for it (PostgreSQL's unique check), or comes after it
    first = submitting(first_tab, data, results, "first")
    assert paying.wait(timeout=30)
    second = submitting(second_tab, data, results, "second")
    for thread in (first, second):
        thread.join(timeout=60)

    # Then one payment, and both show its invoice
    invoice = Invoice.objects.get()
    assert results["first"].url == results["second"].url == reverse("invoice-detail", args=[invoice.pk])
    assert LedgerEntry.objects.filter(kind=EntryKind.RENEWAL).count() == 1
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == Decimal("90.00")
    assert claims == [form["form_token"][0]] * 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_submit_while_the_card_is_charged_says_so_and_charges_once(tenants, card, monkeypatch):
    # Given the first submit of the pay form is charging the card (held there by the test)
    o1 = tenants.orders["o1"]
    first_tab, second_tab = signed_in_tabs(tenants, 2)
    data = {
        **renewal_form(first_tab, {"order": [o1.pk], f"months_{o1.pk}": "1"}),
        "payment": "card",
        "action": "pay",
    }
    paying, release = threading.Event(), threading.Event()
    real = once_services.renewal_pay

    def held(**kwargs):
        paying.set()
        assert release.wait(timeout=30)
        return real(**kwargs)

    monkeypatch.setattr(once_services, "renewal_pay", held)
    results = {}
    first = submitting(first_tab, data, results, "first")
    assert paying.wait(timeout=30)

    # When the same form is sent again meanwhile (the browser shows this answer)
    second = second_tab.post(RENEW, data, follow=True)
    release.set()
    first.join(timeout=60)

    # Then it says the payment is under way, with no pay button to press again; the card was charged once
    assert second.redirect_chain == [(reverse("invoices"), 302)]
    assert "This form was already sent and is being processed; you will not be charged twice." in text(second)
    invoice = Invoice.objects.get()
    assert results["first"].url == reverse("invoice-detail", args=[invoice.pk])
    assert [(i.status, i.amount) for i in intents_of("c1")] == [("succeeded", 1000)]
    # and once it is done, the same form shows its invoice
    assert second_tab.post(RENEW, data).url == results["first"].url
