import dataclasses
import datetime
import json
from decimal import Decimal

import pytest

from core.money import quantize
from renewals.rules import (
    SKIP_REASONS,
    OrderFacts,
    Reason,
    aligned_end,
    batch_failure,
    card_charge,
    eligibility,
    is_due,
    lead_days,
    prorate,
    renewal_period,
    skip_reason,
)

D = datetime.date

FACTS = OrderFacts(
    expires_on=D(2026, 12, 10),
    tenure_months=1,
    status="active",
    auto_renew=True,
    do_not_renew=False,
    locked=False,
    stopped=False,
    pending_action=False,
    plan_endless=False,
    plan_auto_renew_allowed=True,
    plan_lead_days=None,
    category_auto_renew_supported=True,
    reseller_allows=True,
    account_auto_renew=True,
)


def facts(**changes):
    return dataclasses.replace(FACTS, **changes)


@pytest.mark.parametrize(
    ("tenure", "override", "lead"),
    [
        (1, None, 7),
        (2, None, 7),
        (3, None, 7),
        (4, None, 30),
        (6, None, 30),
        (12, None, 30),
        (24, None, 30),
        (12, 10, 10),
    ],
)
def test_lead_days(tenure, override, lead):
    assert lead_days(tenure, override) == lead


@pytest.mark.parametrize(
    ("tenure", "override", "days_before", "due"),
    [
        (1, None, 7, True),  # a 1-month order is due 7 days before...
        (1, None, 8, False),  # ...and not 8
        (12, None, 30, True),  # a 12-month order is due 30 days before...
        (12, None, 31, False),  # ...and not 31
        (3, None, 7, True),  # exactly 3 months takes 7
        (3, None, 8, False),
        (12, 10, 10, True),  # a plan override
        (12, 10, 11, False),
        (1, None, 0, True),  # the expiry day itself is the last try
        (1, None, -1, False),  # the day after, the lifecycle takes over
    ],
)
def test_window_edges(tenure, override, days_before, due):
    expires = D(2026, 12, 10)
    on = expires - datetime.timedelta(days=days_before)
    assert is_due(expires, lead_days(tenure, override), on) is due
    assert eligibility(facts(tenure_months=tenure, plan_lead_days=override), on).due is due


def test_an_order_that_qualifies_has_no_reason():
    assert skip_reason(FACTS) is None
    assert eligibility(FACTS, D(2026, 12, 5)).will_attempt


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"do_not_renew": True}, Reason.DO_NOT_RENEW),
        ({"auto_renew": False}, Reason.ORDER_AUTO_RENEW_OFF),
        ({"plan_endless": True}, Reason.ENDLESS_PLAN),
        ({"category_auto_renew_supported": False}, Reason.CATEGORY_NOT_SUPPORTED),
        ({"plan_auto_renew_allowed": False}, Reason.NOT_ALLOWED_BY_PLAN),
        ({"priced": False}, Reason.PRICE_MISSING),
        ({"reseller_allows": False}, Reason.NOT_ALLOWED_BY_RESELLER),
        ({"account_auto_renew": False}, Reason.ACCOUNT_AUTO_RENEW_OFF),
        ({"status": "suspended"}, Reason.ORDER_SUSPENDED),
        ({"status": "terminated"}, Reason.ORDER_SUSPENDED),
        ({"locked": True}, Reason.ORDER_LOCKED),
        ({"stopped": True}, Reason.ORDER_STOPPED),
        ({"pending_action": True}, Reason.PENDING_ACTION),
    ],
)
def test_each_skip_reason(changes, reason):
    assert skip_reason(facts(**changes)) == reason
    assert reason in SKIP_REASONS


def test_precedence_first_reason_wins():
    # Every blocking condition at once: SPEC's first row wins...
    everything = facts(
        do_not_renew=True,
        auto_renew=False,
        plan_endless=True,
        category_auto_renew_supported=False,
        plan_auto_renew_allowed=False,
        priced=False,
        reseller_allows=False,
        account_auto_renew=False,
        status="suspended",
        locked=True,
        stopped=True,
        pending_action=True,
    )
    assert skip_reason(everything) == Reason.DO_NOT_RENEW
    # ...and removing them one by one walks down the table in its order.
    order = [
        ("do_not_renew", False, Reason.ORDER_AUTO_RENEW_OFF),
        ("auto_renew", True, Reason.ENDLESS_PLAN),
        ("plan_endless", False, Reason.CATEGORY_NOT_SUPPORTED),
        ("category_auto_renew_supported", True, Reason.NOT_ALLOWED_BY_PLAN),
        ("plan_auto_renew_allowed", True, Reason.PRICE_MISSING),
        ("priced", True, Reason.NOT_ALLOWED_BY_RESELLER),
        ("reseller_allows", True, Reason.ACCOUNT_AUTO_RENEW_OFF),
        ("account_auto_renew", True, Reason.ORDER_SUSPENDED),
        ("status", "active", Reason.ORDER_LOCKED),
        ("locked", False, Reason.ORDER_STOPPED),
        ("stopped", False, Reason.PENDING_ACTION),
        ("pending_action", False, None),
    ]
    current = everything
    for field, value, expected in order:
        current = dataclasses.replace(current, **{field: value})
        assert skip_reason(current) == expected, field


def test_the_account_master_switch_does_not_apply_to_an_order_the_reseller_locked():
    assert skip_reason(facts(account_auto_renew=False, auto_renew_locked=True)) is None
    assert skip_reason(facts(account_auto_renew=False, auto_renew_locked=False)) == Reason.ACCOUNT_AUTO_RENEW_OFF


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # The lock keeps the order's own intent (the reseller's to change), and
        # overrides only the account's master switch: every other reason stands.
        ({"do_not_renew": True}, Reason.DO_NOT_RENEW),
        ({"auto_renew": False}, Reason.ORDER_AUTO_RENEW_OFF),
        ({"plan_endless": True}, Reason.ENDLESS_PLAN),
        ({"category_auto_renew_supported": False}, Reason.CATEGORY_NOT_SUPPORTED),
        ({"plan_auto_renew_allowed": False}, Reason.NOT_ALLOWED_BY_PLAN),
        ({"priced": False}, Reason.PRICE_MISSING),
        ({"reseller_allows": False}, Reason.NOT_ALLOWED_BY_RESELLER),
        ({"status": "suspended"}, Reason.ORDER_SUSPENDED),
        ({"locked": True}, Reason.ORDER_LOCKED),
        ({"stopped": True}, Reason.ORDER_STOPPED),
        ({"pending_action": True}, Reason.PENDING_ACTION),
    ],
)
def test_a_locked_order_with_the_master_switch_off_keeps_every_other_reason(changes, reason):
    assert skip_reason(facts(account_auto_renew=False, auto_renew_locked=True, **changes)) == reason


def test_precedence_of_a_locked_order_skips_only_the_master_switch():
    current = facts(
        reseller_allows=False, account_auto_renew=False, status="suspended", auto_renew_locked=True, locked=True
    )
    walk = [
        ("reseller_allows", True, Reason.ORDER_SUSPENDED),  # not account_auto_renew_off: the lock overrides it
        ("status", "active", Reason.ORDER_LOCKED),
        ("locked", False, None),
    ]
    assert skip_reason(current) == Reason.NOT_ALLOWED_BY_RESELLER
    for field, value, expected in walk:
        current = dataclasses.replace(current, **{field: value})
        assert skip_reason(current) == expected, field


def test_a_reason_is_its_code_wherever_it_goes():
    """Reason is a plain StrEnum (the rules import no django.db): it equals,
    prints and serialises as the code the database, the JSON report and the
    API hold, comes back from it, and carries the sentence a customer reads."""
    reason = Reason.CARD_DECLINED
    assert reason == "card_declined"
    assert (str(reason), f"{reason}", json.dumps({"reason": reason})) == (
        "card_declined",
        "card_declined",
        '{"reason": "card_declined"}',
    )
    assert Reason("card_declined") is reason
    assert reason.label == "The card charge failed or needs your authentication."
    assert Reason.choices == [(r.value, r.label) for r in Reason]
    assert Reason.values == [r.value for r in Reason]


def test_the_models_choices_are_the_reasons():
    from renewals.models import BatchAttempt, OrderOutcome

    for model in (BatchAttempt, OrderOutcome):
        assert model._meta.get_field("reason").choices == Reason.choices


def test_reason_codes_are_specs_list_in_order():
    assert [r.value for r in Reason] == [
        "do_not_renew",
        "order_auto_renew_off",
        "endless_plan",
        "category_not_supported",
        "not_allowed_by_plan",
        "price_missing",
        "not_allowed_by_reseller",
        "account_auto_renew_off",
        "order_suspended",
        "order_locked",
        "order_stopped",
        "pending_action",
        "insufficient_funds",
        "no_usable_card",
        "card_declined",
        "payment_unknown",
        "internal_error",
    ]


M = Decimal


@pytest.mark.parametrize(
    ("balance_part", "card_part", "balance", "credit", "card", "reason"),
    [
        (M("100"), M("0"), M("50"), M("0"), False, Reason.INSUFFICIENT_FUNDS),  # 10 x 10.00 vs 50.00
        (M("100"), M("0"), M("50"), M("50"), False, None),  # the credit limit covers it
        (M("100"), M("0"), M("50"), M("49.99"), False, Reason.INSUFFICIENT_FUNDS),
        (M("0"), M("10"), M("100"), M("0"), False, Reason.NO_USABLE_CARD),
        (M("10"), M("10"), M("5"), M("0"), False, Reason.INSUFFICIENT_FUNDS),  # both: first in precedence
        (M("100"), M("10"), M("0"), M("0"), True, None),  # a usable card takes the rest
    ],
)
def test_batch_failure(balance_part, card_part, balance, credit, card, reason):
    found = batch_failure(
        balance_part=balance_part, card_part=card_part, balance=balance, credit_limit=credit, card_usable=card
    )
    assert found == reason


def test_card_charge_uses_the_balance_down_to_zero_not_the_credit():
    assert card_charge(balance_part=M("30"), card_part=M("10"), balance=M("20")) == M("20")
    assert card_charge(balance_part=M("30"), card_part=M("0"), balance=M("-5")) == M("30")
    assert card_charge(balance_part=M("30"), card_part=M("0"), balance=M("50")) == M("0")


@pytest.mark.parametrize(
    ("balance_part", "card_part", "balance", "minimum", "charged"),
    [
        ("0.20", "0", "0", "0.50", "0.50"),  # a 0.20 shortfall charges the minimum
        ("1.00", "0", "0.80", "0.50", "0.50"),  # the shortfall, not the batch, is below it
        ("0", "0.10", "5.00", "0.50", "0.50"),  # a card-sourced order below it
        ("0", "0.60", "0", "0.50", "0.60"),  # above it: as it is
        ("1.00", "0", "5.00", "0.50", "0"),  # the balance pays: no charge at all
        ("20", "0", "0", "50", "50"),  # JPY
    ],
)
def test_a_card_charge_below_the_processors_minimum_is_raised_to_it(balance_part, card_part, balance, minimum, charged):
    found = card_charge(balance_part=M(balance_part), card_part=M(card_part), balance=M(balance), minimum=M(minimum))
    assert found == M(charged)


def test_aligned_end():
    assert aligned_end(D(2027, 1, 10), 15) == D(2027, 1, 15)
    assert aligned_end(D(2027, 1, 20), 15) == D(2027, 2, 15)
    assert aligned_end(D(2027, 1, 15), 15) == D(2027, 1, 15)
    assert aligned_end(D(2027, 2, 10), 31) == D(2027, 2, 28)
    assert aligned_end(D(2027, 1, 31), 30) == D(2027, 2, 28)


def test_prorate_counts_each_day_at_its_months_rate():
    # 10.00 a month: 5 days of January (31 days) and 5 of February (28 days).
    value = prorate(M("10.00"), D(2027, 1, 26), D(2027, 2, 5))
    assert value == M("10.00") * 5 / 31 + M("10.00") * 5 / 28


def test_renewal_period_with_alignment_is_priced_pro_rata_and_rounded_once():
    period = renewal_period(
        expires_on=D(2026, 12, 10), anchor_day=10, months=1, price=M("10.00"), currency="USD", align_day=15
    )
    assert (period.start, period.end, period.extra_days, period.anchor_day) == (D(2026, 12, 10), D(2027, 1, 15), 5, 15)
    assert period.amount == M("11.61")  # 10.00 + 5 x 10.00/31 = 11.6129 -> 11.61 (half up)
    plain = renewal_period(expires_on=D(2026, 1, 31), anchor_day=31, months=1, price=M("10.00"), currency="USD")
    assert (plain.end, plain.amount, plain.extra_days) == (D(2026, 2, 28), M("10.00"), 0)


def test_half_up_rounding():
    # 12-month tenure at 100.00: monthly 8.333..; 3 days of a 30-day month = 0.8333...
    period = renewal_period(
        expires_on=D(2026, 6, 12), anchor_day=12, months=12, price=M("100.00"), currency="USD", align_day=15
    )
    assert period.extra_days == 3
    assert period.amount == M("100.83")
    # 0.14 a month, one extra day of February 2027 (28 days): 0.005 -> 0.145,
    # which rounds half up to 0.15 (half-even would give 0.14).
    half = renewal_period(
        expires_on=D(2027, 1, 14), anchor_day=14, months=1, price=M("0.14"), currency="USD", align_day=15
    )
    assert (half.end, half.extra_days, half.amount) == (D(2027, 2, 15), 1, M("0.15"))


@pytest.mark.parametrize(
    ("currency", "price", "aligned", "half_price", "half_up"),
    [
        # 10 a month + 5 days of January (31 days): 10 + 50/31 = 11.6129...
        ("JPY", "1000", "1161", "14", "15"),  # 14.5 -> 15 (half-even: 14)
        ("USD", "10.00", "11.61", "0.14", "0.15"),  # 0.145 -> 0.15
        ("KWD", "10.000", "11.613", "0.014", "0.015"),  # 0.0145 -> 0.015 (half-even: 0.014)
    ],
)
def test_pro_rata_rounds_half_up_to_the_currencys_minor_unit(currency, price, aligned, half_price, half_up):
    period = renewal_period(
        expires_on=D(2026, 12, 10), anchor_day=10, months=1, price=M(price), currency=currency, align_day=15
    )
    assert str(period.amount) == aligned
    # One extra day of February 2027 (28 days) at half_price a month: exactly half a minor unit.
    half = renewal_period(
        expires_on=D(2027, 1, 14), anchor_day=14, months=1, price=M(half_price), currency=currency, align_day=15
    )
    assert str(half.amount) == half_up
    # The whole line, not each part, is rounded once.
    assert half.amount == quantize(half.base_amount + half.extra_amount, currency)


def test_the_period_cache_keeps_currencies_apart():
    # Same date, anchor, months and price: a JPY and a USD line round differently.
    args = dict(expires_on=D(2026, 12, 10), anchor_day=10, months=1, price=M("10"), align_day=15)
    assert str(renewal_period(**args, currency="USD").amount) == "11.61"
    assert str(renewal_period(**args, currency="JPY").amount) == "12"
    assert str(renewal_period(**args, currency="KWD").amount) == "11.613"


@pytest.mark.parametrize(("offered", "months"), [([1, 3, 12], 1), ([12, 24], 12), ([3], 3), ([], 1)])
def test_a_renewal_form_proposes_one_month_or_the_shortest_period_sold(offered, months):
    from renewals.rules import default_months

    assert default_months(offered) == months


def test_an_order_is_terminated_the_day_after_its_grace_ends():
    from renewals.rules import termination_day

    assert termination_day(datetime.date(2026, 12, 10), 15) == datetime.date(2026, 12, 26)
    assert termination_day(datetime.date(2026, 12, 31), 0) == datetime.date(2027, 1, 1)
    # The grace runs from the suspension: the day after the paid-thru date, or later (held back meanwhile).
    assert termination_day(datetime.date(2026, 12, 10), 15, suspended_on=datetime.date(2026, 12, 11)) == (
        datetime.date(2026, 12, 26)
    )
    assert termination_day(datetime.date(2026, 12, 10), 15, suspended_on=datetime.date(2027, 1, 1)) == (
        datetime.date(2027, 1, 16)
    )
    # An admin's early suspension does not shorten it.
    assert termination_day(datetime.date(2026, 12, 10), 15, suspended_on=datetime.date(2026, 12, 1)) == (
        datetime.date(2026, 12, 26)
    )
