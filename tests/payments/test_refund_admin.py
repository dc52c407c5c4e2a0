"""An admin refunds a card payment (part or whole) from Django admin: the
refund goes to Stripe (localstripe) with a key made from our own row, posts
the refund entry, and its later charge.refunded posts nothing more. Refused
beyond what is left of the payment or below the credit limit; 403 for
view-only staff."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import AuditEvent
from payments.gateway import stripe_client
from payments.models import AttemptState, ProcessorMovement
from payments.tasks import reconcile_payments
from tests.factories import UserFactory
from tests.payments.test_card_renewals import account, save_card
from tests.payments.test_cards import GOOD
from tests.payments.test_refunds import ON, PAID_THRU, entries, refunded, top_up
from tests.payments.test_webhooks import SECRET
from tests.renewals.conftest import order

M = Decimal
CHANGELIST = "admin:payments_paymentattempt_changelist"
pytestmark = pytest.mark.django_db


def refund_request(method: str, url: str, body: str) -> bool:
    return method == "post" and url.split("?")[0].endswith("/v1/refunds")


@pytest.fixture
def paid(portal, stripe_on, settings):
    """c1 (credit limit 5.00) topped up 30.00 by card; o1 renews at 10.00."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    customer = {
        "ref": "c1",
        "name": "Jane",
        "email": "j@x.test",
        "reseller": "r1",
        "balance": "0.00",
        "credit_limit": "5.00",
    }
    portal([order("o1", PAID_THRU)], customers=[customer])
    save_card(GOOD)
    return top_up("30.00")


@pytest.fixture
def ops(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def viewer(client):
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_paymentattempt"))
    client.force_login(user)
    return client


def refund(client, attempt, amount: str = "", reason: str = "customer asked", **options):
    data = {"action": "refund", ACTION_CHECKBOX_NAME: [attempt.pk], "apply": "1", "amount": amount, "reason": reason}
    return client.post(reverse(CHANGELIST), data, **options)


def refunds_at_stripe(attempt) -> list[tuple[int, dict]]:
    listed = stripe_client().Refund.list(payment_intent=attempt.stripe_payment_intent_id, limit=100)
    return sorted((r.amount, r.to_dict()["metadata"]) for r in listed.auto_paging_iter())


def test_an_admin_refunds_part_then_the_rest_and_the_webhook_posts_nothing_more(client, ops, paid, assert_invariants):
    page = ops.post(reverse(CHANGELIST), {"action": "refund", ACTION_CHECKBOX_NAME: [paid.pk]})
    assert page.status_code == 200
    assert f"Left to refund: attempt {paid.pk}: 30.00 USD of 30.00 USD" in page.content.decode()

    assert refund(ops, paid, "10.00", reason="goodwill").status_code == 302
    part = ProcessorMovement.objects.get()
    assert (part.origin, part.state, part.amount, part.reason, part.requested_by) == (
        "admin",
        AttemptState.SUCCEEDED,
        M("10.00"),
        "goodwill",
        "ops",
    )
    assert part.processor_id.startswith("re_")
    assert refunds_at_stripe(paid) == [(1000, {"portal_refund": str(part.pk)})]
    assert (account().balance, account().held) == (M("20.00"), M("0.00"))

    # Left empty: the rest of the payment.
    done = refund(ops, paid, follow=True)
    assert "Refund to the card: attempt" in done.content.decode()
    rest = ProcessorMovement.objects.exclude(pk=part.pk).get()
    assert rest.amount == M("20.00")
    assert entries() == [("refund", M("-10.00"), part.processor_id), ("refund", M("-20.00"), rest.processor_id)]
    assert account().balance == M("0.00")

    # Nothing is left: refused, Stripe not asked.
    again = refund(ops, paid, "1.00", follow=True).content.decode()
    assert "nothing is left of this payment to refund" in again
    assert len(refunds_at_stripe(paid)) == 2

    # Stripe's charge.refunded for both arrives later: already posted.
    assert sorted(refunded(client, paid, "evt_r").split("; ")) == sorted(
        [f"refund {rest.processor_id} already recorded", f"refund {part.processor_id} already recorded"]
    )
    assert len(entries()) == 2
    reasons = list(AuditEvent.objects.filter(action="payment.refund").order_by("pk").values_list("reason", "after"))
    assert reasons == [("goodwill", "20.00 USD"), ("customer asked", "0.00 USD")]
    assert_invariants()


def test_a_refund_beyond_what_is_left_of_the_payment_is_refused_and_stripe_is_not_asked(ops, paid):
    page = refund(ops, paid, "30.01", follow=True).content.decode()
    assert "only 30.00 USD of its 30.00 USD is left to refund, not 30.01 USD" in page
    assert refunds_at_stripe(paid) == []
    assert not ProcessorMovement.objects.exists()
    assert account().balance == M("30.00")


def test_a_refund_of_money_already_spent_may_not_take_the_balance_below_the_credit_limit(
    ops, paid, run, assert_invariants
):
    run(ON)  # o1 renewed: 10.00 of the 30.00 spent, 20.00 left + 5.00 credit
    page = refund(ops, paid, "30.00", follow=True).content.decode()
    assert "refunding 30.00 USD would take the balance below the credit limit: only 25.00 USD is available" in page
    assert refunds_at_stripe(paid) == []
    assert refund(ops, paid, "25.00").status_code == 302
    acct = account()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("-5.00"), M("0.00"), M("0.00"))  # down to the limit
    assert [amount for amount, _ in refunds_at_stripe(paid)] == [2500]
    assert_invariants()


def test_view_only_staff_get_403_for_the_refund_action(viewer, paid):
    assert refund(viewer, paid, "10.00").status_code == 403
    assert refunds_at_stripe(paid) == []
    assert not ProcessorMovement.objects.exists()


def test_a_refund_stripe_refuses_releases_its_hold_and_posts_nothing(ops, paid, stripe_fault, assert_invariants):
    with stripe_fault("invalid", on=refund_request):
        page = refund(ops, paid, "10.00", follow=True).content.decode()
    assert "nothing was refunded: Amount must be at least $0.50 usd" in page
    movement = ProcessorMovement.objects.get()
    assert movement.state == AttemptState.FAILED
    assert (account().balance, account().held) == (M("30.00"), M("0.00"))
    assert entries() == []
    assert_invariants()


@pytest.mark.parametrize("settled_by", ["webhook", "reconciliation"])
def test_a_refund_whose_answer_was_lost_stays_held_and_is_posted_once(
    client, ops, paid, stripe_fault, settings, settled_by, assert_invariants
):
    with stripe_fault("lost", on=refund_request):
        page = refund(ops, paid, "10.00", follow=True).content.decode()
    assert "the card processor did not answer" in page
    movement = ProcessorMovement.objects.get()
    assert (movement.state, movement.processor_id) == (AttemptState.UNKNOWN, "")
    assert (account().balance, account().held, account().available) == (M("30.00"), M("10.00"), M("25.00"))
    assert_invariants()  # the hold is the refund's
    [(amount, metadata)] = refunds_at_stripe(paid)  # Stripe made it
    assert (amount, metadata) == (1000, {"portal_refund": str(movement.pk)})

    settings.PAYMENT_RECONCILE_DELAY_SECONDS = 0
    if settled_by == "webhook":
        assert refunded(client, paid, "evt_r").endswith("(made in the portal) recorded")
        reconcile_payments()  # nothing left to settle
    else:
        assert reconcile_payments()["refunds"] == {"settled": 1, "still_unknown": 0}
        assert refunded(client, paid, "evt_r").endswith("already recorded")
    movement.refresh_from_db()
    assert movement.state == AttemptState.SUCCEEDED
    assert entries() == [("refund", M("-10.00"), movement.processor_id)]
    assert (account().balance, account().held) == (M("20.00"), M("0.00"))
    assert len(refunds_at_stripe(paid)) == 1  # never asked twice
    assert_invariants()
