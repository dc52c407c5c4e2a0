"""Card-expiry warnings (renewals.card_expiry): the ``card_expiring`` notice
30 days before the first attempt of a renewal the default card cannot pay,
once per card and cycle, naming the orders at risk; the cards page's line."""

import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from core.models import Fault, Stage
from notifications.models import Notice, NoticeKind
from payments.models import Card
from renewals import card_expiry
from renewals.card_expiry import (
    card_expires_before,
    card_expires_before_q,
    card_expiry_notes,
    card_expiry_warnings,
    card_last_day,
    warning_due,
)
from renewals.facts import load_catalog
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.factories import member
from tests.renewals.conftest import order

D = datetime.date
# A yearly order (lead 30 days) paid thru Mar 10, 2027: first attempt Feb 8,
# warned from Jan 9 (30 days before) while Feb 8 is ahead.
PAID_THRU = D(2027, 3, 10)
ATTEMPT = D(2027, 2, 8)
MARK = D(2027, 1, 9)
CUSTOMERS = [
    {"ref": "c1", "name": "Jane", "email": "jane@x.test", "reseller": "r1", "balance": "0.00"},
    {"ref": "c2", "name": "John", "email": "john@x.test", "reseller": "r1", "balance": "0.00"},
]


def night(day: datetime.date) -> None:
    call_command("run_renewals", "--date", day.isoformat(), verbosity=0)


def warnings_of(day: datetime.date) -> int:
    return card_expiry_warnings(day, load_catalog())


def card(customer: str, *, month: int, year: int, pm: str = "", default: bool = True, **extra) -> Card:
    account_id = Customer.objects.get(ref=customer).pk
    if default:
        Card.objects.filter(account_id=account_id, is_default=True).update(is_default=False)
    return Card.objects.create(
        account_id=account_id,
        stripe_payment_method_id=pm or f"pm_{customer}_{month}_{year}",
        brand="visa",
        last4="4242",
        exp_month=month,
        exp_year=year,
        is_default=default,
        **extra,
    )


def notices():
    return list(Notice.objects.filter(kind=NoticeKind.CARD_EXPIRING).order_by("pk"))


# The pure part.


@pytest.mark.parametrize(
    ("month", "year", "day", "before"),
    [
        (1, 2027, D(2027, 2, 1), True),  # expired at the end of January
        (1, 2027, D(2027, 1, 31), False),  # its last day still pays
        (2, 2028, D(2028, 2, 29), False),  # a leap February's last day
        (12, 2026, D(2027, 1, 1), True),  # across a year
        (3, 2027, D(2027, 2, 8), False),
        (None, None, D(2027, 2, 8), False),  # never told: not called expired
    ],
)
def test_a_card_expires_at_the_end_of_its_month(month, year, day, before):
    assert card_expires_before(month, year, day) is before


def test_the_card_s_last_day():
    assert card_last_day(2, 2027) == D(2027, 2, 28)
    assert card_last_day(None, 2027) is None


@pytest.mark.parametrize(
    ("on", "attempt", "due"),
    [
        (D(2027, 1, 8), ATTEMPT, False),  # 31 days before: not yet
        (MARK, ATTEMPT, True),  # 30 days before
        (D(2027, 2, 7), ATTEMPT, True),  # a late catch-up, the night before
        (ATTEMPT, ATTEMPT, False),  # the sweep tried the card before the notices
    ],
)
def test_the_warning_is_due_from_30_days_before_the_first_attempt(on, attempt, due):
    assert warning_due(on, attempt) is due


@pytest.mark.django_db
def test_the_query_form_of_expires_before_agrees_with_the_rule(portal):
    portal([], customers=CUSTOMERS)
    cards = [card("c1", month=m, year=y, default=False) for y in (2026, 2027, 2028) for m in (1, 6, 12)]
    for day in (D(2027, 1, 1), D(2027, 6, 30), D(2027, 7, 1), D(2028, 12, 31)):
        found = set(Card.objects.filter(card_expires_before_q(day)).values_list("pk", flat=True))
        assert found == {c.pk for c in cards if card_expires_before(c.exp_month, c.exp_year, day)}, day


# The nightly pass.


@pytest.mark.django_db
def test_a_card_expiring_before_the_renewal_is_warned_once_and_each_card_and_cycle_again(portal):
    portal(
        [order("y1", PAID_THRU, tenure=12), order("y2", D(2027, 4, 20), tenure=12)],  # y2: attempt Mar 21
        customers=CUSTOMERS,
    )
    expiring = card("c1", month=1, year=2027)
    night(D(2027, 1, 8))
    assert notices() == []  # 31 days before the first attempt
    for day in (MARK, MARK, D(2027, 1, 10), D(2027, 1, 20)):  # the night twice, then later nights
        night(day)
    [first] = notices()
    assert (first.subject_key, first.cycle, first.business_date) == (f"card:{expiring.pk}", "2027-03-10", MARK)
    assert first.order_refs == ["y1"]
    # Another default card that also expires before Feb 8 (it has expired): its own warning.
    other = card("c1", month=12, year=2026, pm="pm_other")
    night(D(2027, 1, 21))
    assert [(n.subject_key, n.cycle, n.order_refs) for n in notices()[1:]] == [
        (f"card:{other.pk}", "2027-03-10", ["y1"])
    ]
    # The next cycle at risk (y2, attempted Mar 21): warned from Feb 19, once.
    for day in (D(2027, 2, 18), D(2027, 2, 19), D(2027, 2, 20)):
        night(day)
    assert [(n.subject_key, n.cycle, n.order_refs, n.business_date) for n in notices()[2:]] == [
        (f"card:{other.pk}", "2027-04-20", ["y2"], D(2027, 2, 19))
    ]


@pytest.mark.django_db
def test_a_missed_mark_is_caught_up_while_the_attempt_is_ahead(portal):
    portal([order("y1", PAID_THRU, tenure=12)], customers=CUSTOMERS)
    card("c1", month=1, year=2027)
    assert warnings_of(D(2027, 2, 1)) == 1  # the nights from Jan 9 were missed
    assert warnings_of(ATTEMPT) == 0  # the night of the attempt: too late, the card was tried
    assert [n.business_date for n in notices()] == [D(2027, 2, 1)]


@pytest.mark.django_db
def test_a_card_that_expires_after_the_renewal_gets_none(portal):
    portal([order("y1", PAID_THRU, tenure=12)], customers=CUSTOMERS)
    card("c1", month=2, year=2027)  # pays through Feb 28, the attempt is Feb 8
    card("c2", month=1, year=2027, default=False)  # c2 has no orders; a card that is not default is not charged
    for day in (MARK, D(2027, 2, 1)):
        assert warnings_of(day) == 0
    assert notices() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "switch",
    [
        pytest.param({"auto_renew": False}, id="auto-renew off"),
        pytest.param({"do_not_renew": True}, id="do not renew"),
        pytest.param({"plan": "cert"}, id="category that cannot auto-renew"),
    ],
)
def test_an_order_that_will_not_auto_renew_gets_none(portal, switch):
    portal([order("y1", PAID_THRU, tenure=12, **switch)], customers=CUSTOMERS)
    card("c1", month=1, year=2027)
    assert warnings_of(MARK) == 0
    assert notices() == []


@pytest.mark.django_db
def test_the_notice_names_the_orders_at_risk_the_card_and_where_to_update_it(portal):
    portal(
        [
            order("y1", PAID_THRU, tenure=12),
            order("m1", D(2027, 2, 20)),  # monthly (lead 7): attempt Feb 13, at risk too
            order("y2", D(2027, 4, 20), tenure=12),  # attempt Mar 21: beyond the 30 days
            order("y3", PAID_THRU, tenure=12, auto_renew=False),  # will not be charged
        ],
        customers=CUSTOMERS,
    )
    card("c1", month=1, year=2027)
    assert warnings_of(D(2027, 1, 15)) == 1
    [notice] = notices()
    assert notice.order_refs == ["y1", "m1"]  # by first attempt
    assert notice.cycle == "2027-03-10"
    assert (notice.recipient, notice.customer.ref) == ("jane@x.test", "c1")
    text = notice.rendered().text
    assert "visa •••• 4242 expires at the end of 01/2027" in text
    assert "y1: Basic, 12 month(s), renews on 2027-02-08 (paid thru 2027-03-10), 100.00 USD" in text
    assert "m1: Basic, 1 month(s), renews on 2027-02-13 (paid thru 2027-02-20), 10.00 USD" in text
    assert "y2" not in text
    assert "y3" not in text
    assert "/account/cards/" in text
    assert "expires before your renewal on 2027-02-08" in notice.rendered().subject


@pytest.mark.django_db
def test_a_fault_in_one_account_s_warning_does_not_stop_the_others(portal, monkeypatch):
    portal(
        [order("y1", PAID_THRU, tenure=12), order("y2", PAID_THRU, customer="c2", tenure=12)],
        customers=CUSTOMERS,
    )
    card("c1", month=1, year=2027)
    card("c2", month=1, year=2027)
    broken = Customer.objects.get(ref="c1").pk
    real = card_expiry.card_expiring_notice

    def failing(card, risks, account, **kwargs):
        if account.customer_id == broken:
            raise RuntimeError("bad data in one account")
        return real(card, risks, account, **kwargs)

    monkeypatch.setattr(card_expiry, "card_expiring_notice", failing)
    warnings_of(MARK)
    assert [n.customer.ref for n in notices()] == ["c2"]
    fault = Fault.objects.get()
    assert (fault.stage, fault.customer_id, fault.orders) == (Stage.SCHEDULE, broken, ["y1"])
    assert "bad data in one account" in fault.error
    monkeypatch.setattr(card_expiry, "card_expiring_notice", real)
    warnings_of(D(2027, 1, 10))  # mended: the next night catches it up
    assert sorted(n.customer.ref for n in notices()) == ["c1", "c2"]


@pytest.mark.django_db
def test_a_renewal_already_named_is_not_named_again_by_a_later_notice(portal):
    portal(
        [order("y1", PAID_THRU, tenure=12), order("y2", D(2027, 3, 12), tenure=12)],  # attempts Feb 8 and Feb 10
        customers=CUSTOMERS,
    )
    card("c1", month=1, year=2027)
    warnings_of(D(2027, 1, 11))  # both within 30 days
    warnings_of(D(2027, 2, 9))  # y1 was attempted on Feb 8; y2 is the first ahead, already named
    assert [n.order_refs for n in notices()] == [["y1", "y2"]]


# The cards page's line.


@pytest.mark.django_db
def test_the_cards_page_note_warns_of_the_default_card_before_the_next_renewal(portal):
    portal([order("y1", PAID_THRU, tenure=12)], customers=CUSTOMERS)
    expiring = card("c1", month=1, year=2027)
    spare = card("c1", month=1, year=2027, pm="pm_spare", default=False)
    customer = Customer.objects.get(ref="c1")
    actor = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=customer.pk)
    notes = card_expiry_notes(actor=actor, cards=[expiring, spare], on=D(2026, 12, 1))
    assert notes == {
        expiring.pk: [
            "This card expires at the end of 01/2027, before the automatic renewal of y1 on 2027-02-08: "
            "update it or add another card and make it your default."
        ]
    }
    Card.objects.filter(pk=expiring.pk).update(exp_year=2030)
    expiring.refresh_from_db()
    assert card_expiry_notes(actor=actor, cards=[expiring], on=D(2026, 12, 1)) == {}
    outsider = Actor(kind=ActorKind.CUSTOMER, label="x", customer_id=Customer.objects.get(ref="c2").pk)
    Card.objects.filter(pk=expiring.pk).update(exp_year=2027)
    expiring.refresh_from_db()
    assert card_expiry_notes(actor=outsider, cards=[expiring], on=D(2026, 12, 1)) == {}  # sees none of c1's orders


@pytest.mark.django_db
def test_the_cards_page_shows_the_warning_line_to_the_owner_and_a_colleague_only(portal, client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_portal"  # the page lists known cards without asking Stripe
    portal([order("y1", PAID_THRU, tenure=12)], customers=CUSTOMERS)
    card("c1", month=1, year=2027)
    card("c2", month=1, year=2027)  # c2 has no order: nothing to warn of
    c1, c2 = Customer.objects.get(ref="c1"), Customer.objects.get(ref="c2")
    line = "before the automatic renewal of y1 on 2027-02-08"
    with time_machine.travel(datetime.datetime(2027, 1, 20, 12, 0, tzinfo=datetime.UTC), tick=False):
        for user in (member(customer=c1, username="owner"), member(customer=c1, username="colleague")):
            client.force_login(user)
            assert line in client.get(reverse("cards")).content.decode()
        client.force_login(member(customer=c2, username="outsider"))
        page = client.get(reverse("cards")).content.decode()
        assert "visa •••• 4242 (default)" in page
        assert line not in page


@pytest.mark.django_db
def test_the_cards_page_note_costs_a_fixed_number_of_queries(portal, django_assert_num_queries):
    portal([order(f"y{n}", PAID_THRU, tenure=12) for n in range(1, 31)], customers=CUSTOMERS)
    expiring = card("c1", month=1, year=2027)
    actor = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=expiring.account_id)
    # The customer's live orders, their account, and the catalog (plans, prices, resellers).
    with django_assert_num_queries(5):
        notes = card_expiry_notes(actor=actor, cards=[expiring], on=D(2026, 12, 1))
    assert "y1 and 29 more on 2027-02-08" in notes[expiring.pk][0]
