"""The sweep's card step charging several accounts at once against the
local stub processor (payments.stub_processor): bounded by CARD_CONCURRENCY,
within CARD_RATE_PER_SECOND across processes, a 429 retried into one charge,
one account's fault isolated, all or nothing per account."""

import datetime
import io
import json
import multiprocessing
import os
import time
import uuid

import pytest
import requests
from django.core.management import call_command
from django.db import transaction

from balances.models import Account
from core.models import Fault, Stage
from orders.models import Order
from payments import gateway
from payments.models import AttemptState, Card, PaymentAttempt
from payments.stub_processor import StubProcessor
from payments.throttle import LocalSlots, Throttle
from renewals.bench_cards import card_paid_accounts
from renewals.models import BatchAttempt, BatchOutcome, RenewalPayment
from renewals.rules import Reason
from renewals.sweep import card as card_module
from renewals.sweep.card import card_concurrency
from renewals.sweep.run import sweep_run
from tests.conftest import ON_POSTGRES

ON = datetime.date(2026, 12, 5)
# The threads' own connections see only committed rows: on PostgreSQL these
# tests commit (and the card step runs in threads); on SQLite it runs inline.
pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def stub(settings, monkeypatch):
    """The stub processor, and the portal pointed at it (no rate limit, a
    429 retried at once, unless a test says otherwise)."""
    processor = StubProcessor()
    processor.start()
    settings.STRIPE_SECRET_KEY = "sk_test_stub"
    settings.STRIPE_API_BASE = processor.url
    settings.CARD_RATE_PER_SECOND = 0
    settings.SWEEP_WORKERS = 1  # one batch in this process: the card step's threads are what is tested
    monkeypatch.setattr(gateway, "BACKOFF_SECONDS", 0.01)
    yield processor
    processor.stop()


def renewed(customer_ids) -> int:
    return BatchAttempt.objects.filter(customer_id__in=customer_ids, outcome=BatchOutcome.RENEWED).count()


@pytest.mark.postgres
def test_the_card_step_charges_as_many_at_once_as_the_setting_and_never_more(stub, settings, assert_invariants):
    settings.CARD_CONCURRENCY = 3
    stub.hold_until_in_flight = 3  # each request waits until 3 are in flight: they must come together
    ids = card_paid_accounts(9, seed=1, on=ON)
    sweep_run(on=ON)
    assert stub.peak_in_flight == 3
    assert (stub.charges, renewed(ids)) == (9, 9)
    assert set(PaymentAttempt.objects.values_list("state", flat=True)) == {AttemptState.SUCCEEDED}
    assert len({a.idempotency_key for a in PaymentAttempt.objects.all()}) == 9  # one attempt and key per account
    assert_invariants()


@pytest.mark.postgres
def test_the_rate_limit_spaces_the_charges(stub, settings, assert_invariants):
    settings.CARD_CONCURRENCY = 6
    settings.CARD_RATE_PER_SECOND = 20
    ids = card_paid_accounts(12, seed=2, on=ON)
    started = time.monotonic()
    sweep_run(on=ON)
    times = sorted(stub.arrivals)
    assert len(times) == 12
    assert renewed(ids) == 12
    assert times[-1] - started >= 11 / 20  # 12 requests at 20 a second (see below)
    assert_invariants()


def _send_spaced(throttle: Throttle, url: str, requests_each: int, rate: float) -> None:
    for _ in range(requests_each):
        throttle.wait(rate)
        requests.get(f"{url}/v1/payment_intents", timeout=10)


def _spaced_from_processes(throttle: Throttle, stub: StubProcessor, *, processes=3, each=5, rate=25.0) -> list:
    context = multiprocessing.get_context("fork")  # the sweep's workers are forked too
    workers = [context.Process(target=_send_spaced, args=(throttle, stub.url, each, rate)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return sorted(stub.arrivals)


@pytest.mark.parametrize("shared", ["memory", "redis"])
def test_the_rate_holds_across_processes(shared, stub):
    if shared == "redis":
        import redis

        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.RedisError:
            pytest.skip(f"needs Redis at {REDIS_URL}")
        throttle = Throttle(REDIS_URL, key=f"test:processor:{uuid.uuid4()}")
    else:
        throttle = Throttle(local=LocalSlots())  # made before the fork, as the module's own is
    started = time.monotonic()  # the stub's clock: one CLOCK_MONOTONIC for the machine
    times = _spaced_from_processes(throttle, stub, processes=3, each=5, rate=25.0)
    assert len(times) == 15
    # The first slot is no earlier than the start and the 15th is 14/25 s
    # after it, whichever process took which: the last request cannot have
    # arrived sooner. A slow machine only makes it later, so this cannot
    # flake; without a shared schedule it would be about 4/25 s.
    assert times[-1] - started >= 14 / 25


def test_a_rate_limited_request_is_retried_and_charges_once(stub, assert_invariants):
    ids = card_paid_accounts(1, seed=3, on=ON)
    stub.rate_limit_next(2)  # Stripe answers 429 twice, then takes it
    sweep_run(on=ON)
    assert stub.rate_limited_count == 2
    assert stub.charges == 1
    assert len(stub.intents) == 1
    attempt = PaymentAttempt.objects.get()
    assert attempt.state == AttemptState.SUCCEEDED
    assert attempt.stripe_payment_intent_id == next(iter(stub.intents))
    assert renewed(ids) == 1
    assert_invariants()


def test_rate_limited_on_every_try_leaves_the_attempt_for_reconciliation(stub, assert_invariants):
    ids = card_paid_accounts(1, seed=4, on=ON)
    stub.rate_limit_next(gateway.RATE_LIMITED_TRIES)
    sweep_run(on=ON)
    assert stub.rate_limited_count == gateway.RATE_LIMITED_TRIES  # tried that often, no more
    assert stub.charges == 0
    assert not stub.intents
    attempt = PaymentAttempt.objects.get()
    # As a reply that never came: unknown, its hold kept and orders claimed,
    # the batch pending until reconciliation settles it; nothing charged twice.
    assert attempt.state == AttemptState.UNKNOWN
    assert "RateLimitError" in attempt.error
    batch = BatchAttempt.objects.get(customer_id=ids[0])
    assert (batch.outcome, batch.reason) == (BatchOutcome.PENDING, Reason.PAYMENT_UNKNOWN)
    assert RenewalPayment.objects.get(attempt=attempt).claim
    assert_invariants()


def test_a_decline_fails_that_account_alone_and_whole(stub, assert_invariants):
    ids = card_paid_accounts(4, seed=5, on=ON)
    declined = ids[1]
    Card.objects.filter(account_id=declined).update(stripe_payment_method_id="pm_decline_1")
    before = {o.pk: o.expires_on for o in Order.objects.filter(customer_id=declined)}
    balance = Account.objects.get(pk=declined).balance
    sweep_run(on=ON)
    batch = BatchAttempt.objects.get(customer_id=declined)
    assert (batch.outcome, batch.reason) == (BatchOutcome.FAILED, Reason.CARD_DECLINED)
    assert {o.pk: o.expires_on for o in Order.objects.filter(customer_id=declined)} == before  # none renewed
    account = Account.objects.get(pk=declined)
    assert (account.balance, account.held) == (balance, 0)
    assert renewed(ids) == 3
    assert stub.charges == 3
    assert_invariants()


@pytest.mark.parametrize("where", ["preparing", "charging"])
def test_one_accounts_error_is_a_fault_and_the_others_are_charged(where, stub, settings, monkeypatch):
    settings.CARD_CONCURRENCY = 4
    ids = card_paid_accounts(8, seed=6, on=ON)
    broken = ids[5]
    if where == "preparing":
        real = card_module.claim_orders

        def claim_orders(attempt, *args, **kwargs):
            if attempt.account_id == broken:
                raise RuntimeError("bad data in one account")
            return real(attempt, *args, **kwargs)

        monkeypatch.setattr(card_module, "claim_orders", claim_orders)
    else:
        real = card_module.charge

        def charge(attempt, **kwargs):
            if attempt.account_id == broken:
                raise RuntimeError("a bug met in one charging thread")
            return real(attempt, **kwargs)

        monkeypatch.setattr(card_module, "charge", charge)
    sweep_run(on=ON)
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject, fault.customer_id) == (Stage.CARD, f"account:{broken}", broken)
    assert renewed(ids) == 7
    assert stub.charges == 7
    batch = BatchAttempt.objects.get(customer_id=broken)
    if where == "preparing":  # rolled back whole: failed with internal_error, retried tomorrow
        assert (batch.outcome, batch.reason) == (BatchOutcome.FAILED, Reason.INTERNAL_ERROR)
        assert not PaymentAttempt.objects.filter(account_id=broken).exists()
    else:  # recorded before the error: its attempt waits for reconciliation, never charged twice
        assert batch.outcome == BatchOutcome.PENDING
        assert PaymentAttempt.objects.get(account_id=broken).state == AttemptState.PENDING


def test_the_card_step_runs_one_at_a_time_on_sqlite_and_in_a_transaction(settings):
    settings.CARD_CONCURRENCY = 8
    assert card_concurrency() == (8 if ON_POSTGRES else 1)
    with transaction.atomic():  # other connections could not see its rows
        assert card_concurrency() == 1


def test_backoff_doubles_with_jitter_up_to_its_cap():
    for retry in range(1, 10):
        step = min(gateway.BACKOFF_CAP_SECONDS, gateway.BACKOFF_SECONDS * 2 ** (retry - 1))
        assert step / 2 <= gateway.backoff_seconds(retry) <= step


def test_bench_cards_runs_the_card_step_and_keeps_the_invariants(settings):
    settings.CARD_CONCURRENCY = 4
    out = io.StringIO()
    call_command("bench_cards", "--accounts", "10", "--latency-ms", "20", "--rate", "50", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["renewed"] == figures["charges"] == 10
    assert figures["attempts"]["succeeded"] == 10
    assert figures["invariants_ok"] is True
    assert figures["concurrency"] == (4 if ON_POSTGRES else 1)
    assert 1 <= figures["peak_in_flight"] <= figures["concurrency"]
