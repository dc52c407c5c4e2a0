"""Dunning per reseller (docs/dunning.md): the nights a failing auto-renewal
is tried again, by the reseller's retry policy (inherited down the tree,
overridden by a sub-reseller, waived for an exempt customer), and the
dry-run, the reseller's preview and "why won't this renew" naming the same
next attempt date."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse

from balances.models import EntryKind
from balances.services import ledger_post
from core.errors import DomainError
from core.models import Fault
from interchange.exporter import portal_export
from interchange.importer import portal_import
from notifications.models import Notice
from orders.models import Order
from renewals.models import BatchAttempt
from renewals.rules import (
    EVERY_NIGHT,
    RetryPolicy,
    is_attempt_night,
    is_hard_decline,
    next_attempt_night,
)
from renewals.selectors import next_attempt_on, order_renewal_outlook, sweep_preview
from renewals.sweep.run import sweep_run
from tenants.models import Customer, Reseller
from tenants.rules import retry_days_parse, retry_policy_problem
from tenants.scope import Actor, ActorKind
from tenants.services import membership_link
from tests.renewals.conftest import order, portal_document
from tests.test_settings import settings_in_fresh_process

D = datetime.date
DAY = datetime.timedelta(days=1)
EXPIRES = D(2026, 12, 10)  # a 1-month order: its window opens 7 days before, on Dec 3
POLICY = RetryPolicy(frozenset({7, 3, 1, 0}))

RESELLERS = [
    {"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test", "retry_days": [7, 3, 1, 0]},
    # Inherits r1's policy.
    {"ref": "r1a", "name": "Acme Resale", "email": "a@acme.test", "parent": "r1"},
    # Its own: the first night, then 2 days before expiry only.
    {"ref": "r2", "name": "Sub", "email": "sub@acme.test", "parent": "r1", "retry_days": [2], "last_chance_day": 2},
]


def customer(ref: str, reseller: str, **extra) -> dict:
    return {"ref": ref, "name": ref.upper(), "email": f"{ref}@x.test", "reseller": reseller, "balance": "0.00", **extra}


# --- the pure rules -------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "on", "expected"),
    [
        (EVERY_NIGHT, D(2026, 12, 5), True),
        (POLICY, D(2026, 12, 3), True),  # 7 days before: also the window's first night
        (POLICY, D(2026, 12, 4), False),
        (POLICY, D(2026, 12, 7), True),  # 3 days before
        (POLICY, D(2026, 12, 8), False),
        (POLICY, D(2026, 12, 10), True),  # the expiry day
        (RetryPolicy(frozenset({2})), D(2026, 12, 3), True),  # the first night always
        (RetryPolicy(frozenset({2}), last_chance_day=5), D(2026, 12, 5), True),  # the last-chance day
        (RetryPolicy(frozenset({2})), D(2026, 12, 11), True),  # past expiry (held back): every night
    ],
)
def test_attempt_nights(policy, on, expected):
    assert is_attempt_night(policy, expires_on=EXPIRES, window_opens=D(2026, 12, 3), on=on) is expected


@pytest.mark.parametrize(
    ("policy", "on", "expected"),
    [
        (POLICY, D(2026, 11, 20), D(2026, 12, 3)),  # before the window: its first night
        (POLICY, D(2026, 12, 4), D(2026, 12, 7)),
        (POLICY, D(2026, 12, 7), D(2026, 12, 7)),
        (POLICY, D(2026, 12, 8), D(2026, 12, 9)),
        (RetryPolicy(frozenset({5}), last_chance_day=5), D(2026, 12, 6), None),  # nothing left before expiry
        (RetryPolicy(frozenset({5}), last_chance_day=1), D(2026, 12, 6), D(2026, 12, 9)),
        (EVERY_NIGHT, D(2026, 12, 6), D(2026, 12, 6)),
    ],
)
def test_next_attempt_night(policy, on, expected):
    assert next_attempt_night(policy, expires_on=EXPIRES, window_opens=D(2026, 12, 3), on=on) == expected


@pytest.mark.parametrize(
    ("days", "last", "problem"),
    [
        (None, 0, None),
        ([7, 3, 1, 0], 1, None),
        ([], 0, "retry_days must be null (every night) or a list"),
        ("7,3", 0, "retry_days must be null"),
        ([7, 7], 0, "names a day twice"),
        ([-1], 0, "the day -1 is not a whole number of days from 0 to 366"),
        ([True], 0, "the day True"),
        ([1.5], 0, "the day 1.5"),
        ([400], 0, "the day 400"),
        ([3], -1, "last_chance_day: -1 is not"),
    ],
)
def test_retry_policy_problem(days, last, problem):
    found = retry_policy_problem(days, last)
    assert (found is None) if problem is None else (problem in found)


def test_the_platform_setting_is_parsed_by_the_same_rule():
    assert retry_days_parse("0, 3,7") == [7, 3, 0]
    assert retry_days_parse("") is None
    with pytest.raises(ValueError, match="'x' is not a whole number"):
        retry_days_parse("7,x")
    with pytest.raises(ValueError, match="names a day twice"):
        retry_days_parse("3,3")


@pytest.mark.parametrize(
    ("code", "earlier", "hard"),
    [
        ("lost_card", [], True),
        ("stolen_card", [], True),
        ("expired_card", [], True),
        ("do_not_honor", [], False),
        ("do_not_honor", ["do_not_honor"], True),
        ("generic_decline", ["do_not_honor"], False),
        ("insufficient_funds", [], False),
        ("", [], False),
    ],
)
def test_hard_declines(code, earlier, hard):
    assert is_hard_decline(code, earlier) is hard


# --- the sweep over a whole window ----------------------------------------


@pytest.fixture
def dunning_portal(portal):
    portal(
        [
            order("o1", EXPIRES, customer="c1"),  # r1's policy
            order("o2", EXPIRES, customer="c2"),  # r1a inherits it
            order("o3", EXPIRES, customer="c3"),  # r2 overrides it
            order("o4", EXPIRES, customer="c4"),  # exempt: every night
        ],
        resellers=RESELLERS,
        customers=[
            customer("c1", "r1"),
            customer("c2", "r1a"),
            customer("c3", "r2"),
            customer("c4", "r1", retry_exempt=True),
        ],
    )


def attempt_nights(ref: str) -> list[datetime.date]:
    return list(
        BatchAttempt.objects.filter(customer__ref=ref).order_by("business_date").values_list("business_date", flat=True)
    )


@pytest.mark.django_db
def test_a_failing_batch_is_tried_only_on_its_policy_nights_and_a_sub_resellers_override_wins(
    dunning_portal, assert_invariants
):
    # Given four customers who cannot pay, under three policies
    # When every night of the window runs
    night = D(2026, 12, 1)
    while night <= EXPIRES:
        sweep_run(on=night)
        night += DAY
    # Then each is tried on its own policy's nights only
    days_7_3_1_0 = [D(2026, 12, 3), D(2026, 12, 7), D(2026, 12, 9), D(2026, 12, 10)]
    assert attempt_nights("c1") == days_7_3_1_0
    assert attempt_nights("c2") == days_7_3_1_0  # inherited from r1
    assert attempt_nights("c3") == [D(2026, 12, 3), D(2026, 12, 8)]  # r2's: the first night and 2 days before
    assert attempt_nights("c4") == [D(2026, 12, 3) + n * DAY for n in range(8)]  # exempt: every night
    assert set(BatchAttempt.objects.values_list("reason", flat=True)) == {"insufficient_funds"}
    # and the last-chance notice goes on each policy's last-chance day (r2's: 2 days before)
    last_chance = dict(Notice.objects.filter(kind="renewal_last_chance").values_list("customer__ref", "business_date"))
    assert last_chance == {"c1": EXPIRES, "c2": EXPIRES, "c3": D(2026, 12, 8), "c4": EXPIRES}
    assert_invariants()


@pytest.mark.django_db
def test_a_topped_up_account_renews_on_its_next_policy_night(dunning_portal):
    sweep_run(on=D(2026, 12, 3))  # fails: nothing on the balance
    top_up("c1")
    sweep_run(on=D(2026, 12, 4))
    assert Order.objects.get(ref="o1").expires_on == EXPIRES  # not a policy night: it waits
    sweep_run(on=D(2026, 12, 7))
    assert Order.objects.get(ref="o1").expires_on == D(2027, 1, 10)


def top_up(ref: str) -> None:
    ledger_post(
        actor=Actor.system("test"),
        account_id=Customer.objects.get(ref=ref).pk,
        amount=Decimal("10.00"),
        kind=EntryKind.ADJUSTMENT,
        memo="top-up",
    )


def reseller_actor(ref: str) -> Actor:
    reseller = Reseller.objects.get(ref=ref)
    return Actor(kind=ActorKind.RESELLER, label=ref, reseller_id=reseller.pk, reseller_path=reseller.path)


@pytest.mark.django_db
def test_the_dry_run_the_preview_and_why_name_the_same_next_attempt(dunning_portal, run):
    run(D(2026, 12, 3))  # the first night: tried, failed
    on = D(2026, 12, 4)  # a night r1's policy does not try
    dry = run(on, dry_run=True)
    waiting = {w["customer"]: w for w in dry["waiting"]}
    assert waiting["c1"] == {
        "customer": "c1",
        "orders": ["o1"],
        "next_attempt": "2026-12-07",
        "why": "next attempt on 2026-12-07 (retry policy)",
    }
    assert waiting["c3"]["next_attempt"] == "2026-12-08"
    assert [b["customer"] for b in dry["batches"]] == ["c4"]  # only the exempt one is tried tonight

    preview = sweep_preview(actor=reseller_actor("r1"), on=on)
    lines = {line.plan.account.ref: line for line in preview.lines()}
    assert lines["c1"].plan.waiting
    assert lines["c1"].next_attempt == D(2026, 12, 7)
    assert lines["c1"].next_attempt_sentence == "next attempt on 2026-12-07 (retry policy)"
    assert lines["c3"].next_attempt == D(2026, 12, 8)
    assert not lines["c4"].plan.waiting
    assert lines["c4"].next_attempt == on
    assert preview.summary()["waiting"] == 3

    o1 = Order.objects.get(ref="o1")
    outlook = order_renewal_outlook(actor=Actor.system("test"), order_id=o1.pk, on=on)
    assert next_attempt_on(outlook, on) == D(2026, 12, 7)
    assert "next attempt on 2026-12-07 (retry policy)" in outlook.sentence

    # And the real run of that night records nothing of the waiting ones.
    real = run(on)
    assert [b["customer"] for b in real["batches"]] == ["c4"]
    assert "waiting" not in real


@pytest.mark.django_db
def test_the_preview_and_order_pages_and_the_api_say_the_next_attempt(dunning_portal, run, client):
    run(D(2026, 12, 3))
    user = get_user_model().objects.create_user("staff-r1", password="pw-123456789")
    membership_link(user=user, reseller=Reseller.objects.get(ref="r1"))
    client.force_login(user)

    with time_machine.travel(datetime.datetime(2026, 12, 4, 9, tzinfo=datetime.UTC)):
        preview = client.get("/api/sweep-preview/").json()
        o1 = Order.objects.get(ref="o1")
        detail = client.get(f"/api/orders/{o1.pk}/").json()
        page = client.get(reverse("reseller-preview")).content.decode()
    rows = {row["customer"]: row for row in preview["results"]}
    assert (rows["c1"]["waiting"], rows["c1"]["next_attempt"]) == (True, "2026-12-07")
    assert detail["next_attempt"] == "2026-12-07"
    assert "Not tried tonight: next attempt on 2026-12-07 (retry policy)." in page
    assert "Not tried tonight: next attempt on 2026-12-08 (retry policy)." in page  # c3, under r2
    # The customer's own order page says it too
    jane = get_user_model().objects.create_user("c1-login", password="pw-123456789")
    membership_link(user=jane, customer=Customer.objects.get(ref="c1"))
    client.force_login(jane)
    with time_machine.travel(datetime.datetime(2026, 12, 4, 9, tzinfo=datetime.UTC)):
        page = client.get(reverse("order-detail", args=[o1.pk])).content.decode()
    assert "It renews automatically: next attempt on 2026-12-07 (retry policy)." in page


# --- bad policy data ------------------------------------------------------


@pytest.mark.django_db
def test_a_malformed_policy_in_the_database_fails_only_the_accounts_under_it(dunning_portal, assert_invariants):
    # Given r2's policy broken behind the doors' back (a hand-edited row)
    Reseller.objects.filter(ref="r2").update(retry_days=["often"])
    top_up("c1")
    top_up("c3")
    # When the first night runs, its dry-run first
    dry = {b["customer"]: b for b in sweep_run(on=D(2026, 12, 3), dry_run=True).batches}
    report = sweep_run(on=D(2026, 12, 3))
    # Then only c3 (under r2) fails, with internal_error; the others renew
    outcomes = {b["customer"]: (b["outcome"], b["reason"]) for b in report.batches}
    assert outcomes["c3"] == ("failed", "internal_error")
    assert outcomes["c1"] == ("renewed", None)
    assert (dry["c3"]["outcome"], dry["c3"]["reason"]) == ("failed", "internal_error")
    assert Order.objects.get(ref="o1").expires_on == D(2027, 1, 10)
    assert Order.objects.get(ref="o3").expires_on == EXPIRES
    assert "retry policy is unusable" in Fault.objects.get().error
    assert_invariants()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reseller", "error"),
    [
        ({"retry_days": []}, "resellers[0].retry_days: must be null (every night) or a list"),
        ({"retry_days": [3, 3]}, "resellers[0].retry_days: [3, 3] names a day twice"),
        ({"retry_days": ["7"]}, "resellers[0].retry_days: the day '7' is not a whole number"),
        ({"retry_days": [3], "last_chance_day": 400}, "resellers[0].last_chance_day: must be from 0 to 366"),
        ({"last_chance_day": 1}, "resellers[0].last_chance_day: belongs to a policy of its own"),
    ],
)
def test_the_importer_refuses_a_bad_policy_by_its_path_and_changes_nothing(reseller, error):
    document = portal_document([], resellers=[{"ref": "r1", "name": "Acme", **reseller}], customers=[])
    with pytest.raises(DomainError) as caught:
        portal_import(data=document, actor=Actor.system("test"))
    assert error in str(caught.value) or error in str(getattr(caught.value, "errors", ""))
    assert not Reseller.objects.exists()


@pytest.mark.django_db
def test_export_then_import_then_export_is_identical(dunning_portal):
    first = portal_export()
    resellers = {r["ref"]: r for r in first["resellers"]}
    assert resellers["r1"]["retry_days"] == [7, 3, 1, 0]
    assert "retry_days" not in resellers["r1a"]  # inherits
    assert (resellers["r2"]["retry_days"], resellers["r2"]["last_chance_day"]) == ([2], 2)
    assert {c["ref"]: c["retry_exempt"] for c in first["customers"]}["c4"] is True
    portal_import(data=first, actor=Actor.system("test"))
    assert portal_export() == first


# --- the platform's policy ------------------------------------------------


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"RENEWAL_RETRY_DAYS": "7,x"}, "RENEWAL_RETRY_DAYS / RENEWAL_LAST_CHANCE_DAY: retry days: 'x' is not"),
        ({"RENEWAL_RETRY_DAYS": "3,3"}, "names a day twice"),
        ({"RENEWAL_RETRY_DAYS": "7,3", "RENEWAL_LAST_CHANCE_DAY": "soon"}, "'soon' is not a whole number of days"),
    ],
)
def test_a_bad_platform_policy_stops_the_start_with_the_reason(env, error):
    result = settings_in_fresh_process(DEBUG="1", **env)
    assert result.returncode != 0
    assert error in result.stderr


@pytest.mark.django_db
def test_resellers_without_a_policy_get_the_platforms(portal, settings):
    settings.RENEWAL_RETRY_DAYS, settings.RENEWAL_LAST_CHANCE_DAY = [3], 0
    portal([order("o1", EXPIRES)], customers=[customer("c1", "r1")])
    for night in (D(2026, 12, 3), D(2026, 12, 4), D(2026, 12, 7), D(2026, 12, 8), D(2026, 12, 10)):
        sweep_run(on=night)
    assert attempt_nights("c1") == [D(2026, 12, 3), D(2026, 12, 7), D(2026, 12, 10)]
