"""Card charges in each currency's minor units, and the processor's minimum
charge (SPEC "Money"), against a real localstripe."""

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from balances.models import Account, LedgerEntry
from core.errors import DomainError
from invoices.models import Invoice
from notifications.models import Notice
from orders.models import Order
from payments.models import AttemptState, PaymentAttempt
from payments.services import top_up_by_card
from renewals.manual import renewal_pay, renewal_quote
from renewals.selectors import sweep_preview
from renewals.sweep.run import sweep_run
from tenants.models import Reseller
from tenants.scope import Actor, ActorKind
from tests.payments.test_card_renewals import intents_of, save_card
from tests.payments.test_cards import GOOD
from tests.renewals.conftest import order

pytestmark = pytest.mark.django_db

D = datetime.date
ON = D(2026, 12, 5)
DUE = D(2026, 12, 10)


def run(on: datetime.date, *, dry_run: bool = False) -> dict:
    """The run_renewals --json report, through the command."""
    out = io.StringIO()
    call_command("run_renewals", "--date", on.isoformat(), "--json", *(["--dry-run"] if dry_run else []), stdout=out)
    return json.loads(out.getvalue())


def plan(ref: str, currency: str, price: str) -> dict:
    return {"ref": ref, "name": ref.title(), "category": "hosting", "currency": currency, "prices": {"1": price}}


@pytest.fixture
def shop(portal, stripe_on):
    """One customer c1 paying in ``currency`` with ``balance``, its orders on
    one plan priced ``price`` a month in that currency, and a saved card."""

    def load(*, currency: str, price: str, balance: str, orders: list):
        portal(
            orders,
            plans=[plan("basic", currency, price)],
            customers=[
                {
                    "ref": "c1",
                    "name": "Jane",
                    "email": "j@x.test",
                    "reseller": "r1",
                    "currency": currency,
                    "balance": balance,
                }
            ],
        )
        save_card(GOOD)

    return load


def account() -> Account:
    return Account.objects.get(customer__ref="c1")


def entries() -> list:
    return list(LedgerEntry.objects.order_by("pk").values_list("kind", "amount"))


def jane() -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)


def reseller() -> Actor:
    r1 = Reseller.objects.get(ref="r1")
    return Actor(kind=ActorKind.RESELLER, label="r1", reseller_id=r1.pk, reseller_path=r1.path)


def test_a_20_cent_shortfall_charges_the_50_cent_minimum_and_credits_the_rest(shop, assert_invariants):
    # Given a 10.00 renewal and 9.80 on the balance: 0.20 short
    shop(currency="USD", price="10.00", balance="9.80", orders=[order("o1", DUE)])
    # The preview and the dry-run predict the charge the run makes
    (line,) = sweep_preview(actor=reseller(), on=ON).lines()
    assert (line.from_card, line.from_balance, line.plan.to_balance) == (Decimal("0.50"), Decimal("9.50"), Decimal(0))
    dry = run(ON, dry_run=True)
    # When the nightly run charges the card
    real = run(ON)
    assert (
        real["batches"]
        == dry["batches"]
        == [{"customer": "c1", "outcome": "renewed", "reason": None, "total": "10.00", "orders": ["o1"]}]
    )
    # Then localstripe was asked for 50 cents, not 20 (an invalid request at Stripe)
    assert [(i.status, i.amount, i.currency) for i in intents_of()] == [("succeeded", 50, "usd")]
    # The card top-up is the whole charge, the renewal debit the renewal; 0.30 stays on the balance
    assert entries() == [("opening", Decimal("9.80")), ("card_top_up", Decimal("0.50")), ("renewal", Decimal("-10.00"))]
    assert (account().balance, account().held) == (Decimal("0.30"), Decimal(0))
    assert Invoice.objects.get().total == Decimal("10.00")
    text = Notice.objects.get(kind="renewal_succeeded").rendered().text
    assert "We charged 0.50 USD to your card visa •••• 4242 and added it to your balance" in text
    assert_invariants()


def test_a_card_sourced_order_below_the_minimum_is_charged_the_minimum(shop, assert_invariants):
    shop(currency="USD", price="0.20", balance="0.00", orders=[order("o1", DUE, payment_source="card")])
    (line,) = sweep_preview(actor=reseller(), on=ON).lines()
    # Nothing from the balance; 0.30 of the charge stays on it
    assert (line.from_card, line.from_balance, line.plan.to_balance) == (
        Decimal("0.50"),
        Decimal(0),
        Decimal("0.30"),
    )
    sweep_run(on=ON)
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 50)]
    assert PaymentAttempt.objects.get().renewal.hold == 0
    assert entries() == [("card_top_up", Decimal("0.50")), ("renewal", Decimal("-0.20"))]
    assert account().balance == Decimal("0.30")
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert_invariants()


def test_a_yen_account_renewed_by_card_is_charged_in_yen(shop, assert_invariants):
    # Given a 1000 JPY plan paid by card (not 100,000 yen: yen have no minor unit)
    shop(currency="JPY", price="1000", balance="0", orders=[order("o1", DUE, payment_source="card")])
    report = run(ON)
    assert report["batches"][0]["total"] == "1000"
    assert [o["amount"] for o in report["orders"]] == ["1000"]
    assert [(i.status, i.amount, i.currency) for i in intents_of()] == [("succeeded", 1000, "jpy")]
    assert entries() == [("card_top_up", Decimal("1000")), ("renewal", Decimal("-1000"))]
    assert account().balance == 0
    text = Notice.objects.get(kind="renewal_succeeded").rendered().text
    assert "the renewal, 1000 JPY, was then paid from your balance" in text
    assert_invariants()


def test_a_yen_shortfall_below_50_yen_charges_50(shop, assert_invariants):
    shop(currency="JPY", price="1000", balance="980", orders=[order("o1", DUE)])
    sweep_run(on=ON)
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 50)]
    assert account().balance == Decimal("30")
    assert_invariants()


def test_a_dinar_charge_is_in_fils(shop, assert_invariants):
    shop(currency="KWD", price="1.500", balance="0", orders=[order("o1", DUE, payment_source="card")])
    sweep_run(on=ON)
    assert [(i.status, i.amount, i.currency) for i in intents_of()] == [("succeeded", 1500, "kwd")]
    assert entries() == [("card_top_up", Decimal("1.500")), ("renewal", Decimal("-1.500"))]
    assert_invariants()


def test_a_manual_card_renewal_below_the_minimum_charges_the_minimum(shop, assert_invariants):
    shop(currency="USD", price="0.20", balance="0.00", orders=[order("o1", DUE, auto_renew=False)])
    quote = renewal_quote(actor=jane(), items=[(Order.objects.get().pk, 1)])
    invoice = renewal_pay(actor=jane(), quote=quote, payment="card", on=ON)
    assert invoice.total == Decimal("0.20")
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 50)]
    assert entries() == [("card_top_up", Decimal("0.50")), ("renewal", Decimal("-0.20"))]
    assert account().balance == Decimal("0.30")
    assert_invariants()


@pytest.mark.parametrize(
    ("currency", "amount", "minimum"),
    [("USD", "0.20", "0.50 USD"), ("JPY", "10", "50 JPY"), ("GBP", "0.29", "0.30 GBP")],
)
def test_a_top_up_below_the_minimum_is_refused_naming_it(shop, currency, amount, minimum):
    # A top-up is the amount the customer chose: refused, never raised
    shop(currency=currency, price="1000", balance="0", orders=[])
    with pytest.raises(DomainError, match=f"the smallest card top-up is {minimum}") as refused:
        top_up_by_card(actor=jane(), account_id=account().pk, amount=Decimal(amount))
    assert refused.value.code == "below_minimum"
    assert intents_of() == []
    assert not PaymentAttempt.objects.exists()


def test_a_top_up_finer_than_the_unit_is_refused(shop):
    shop(currency="JPY", price="1000", balance="0", orders=[])
    with pytest.raises(DomainError, match="finer than JPY's minor unit"):
        top_up_by_card(actor=jane(), account_id=account().pk, amount=Decimal("100.5"))
    assert not PaymentAttempt.objects.exists()


def test_a_yen_top_up_at_the_minimum_is_charged_as_given(shop, assert_invariants):
    shop(currency="JPY", price="1000", balance="0", orders=[])
    attempt = top_up_by_card(actor=jane(), account_id=account().pk, amount=Decimal("50"))
    assert attempt.state == AttemptState.SUCCEEDED
    assert [(i.status, i.amount, i.currency) for i in intents_of()] == [("succeeded", 50, "jpy")]
    assert account().balance == Decimal("50")
    assert_invariants()
