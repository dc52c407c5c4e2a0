"""Delivery in batches, against real local SMTP servers (aiosmtpd, and a
socket that never answers): one connection per batch, each notice once, a
refusal or a broken connection costs only its notice, a hanging server is
bounded, and delivery has its own Celery queue."""

import asyncio
import datetime
import io
import json
import socket
import threading
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import delivery
from notifications.bench import build_outbox
from notifications.delivery import deliver_pending
from notifications.localsmtp import Inbox
from notifications.models import DeliveryState, Notice

ON = datetime.date(2026, 12, 5)
LATER = datetime.timedelta(minutes=2)  # past the first retry's backoff (1 minute)


def counts(**these) -> dict[str, int]:
    return {"sent": 0, "failed": 0, "panel_only": 0, "deferred": 0, "connections": 0, **these}


def notice_keys(kind_ids) -> set[str]:
    return {f"{kind}:{pk}" for pk, kind in kind_ids}


def states() -> dict[str, int]:
    found: dict[str, int] = {}
    for state in Notice.objects.values_list("state", flat=True):
        found[state] = found.get(state, 0) + 1
    return found


def recipients_in_order() -> list[str]:
    """Each customer's address once, in the order its notices are sent (by id)."""
    return list(dict.fromkeys(Notice.objects.order_by("pk").values_list("recipient", flat=True)))


@pytest.mark.django_db
def test_each_batch_goes_over_one_connection_and_each_notice_arrives_once(mailbox):
    build_outbox(12, on=ON)  # paid renewals with their invoices, and advance notices
    assert deliver_pending(limit=5) == counts(sent=12, connections=3)  # batches of 5, 5 and 2
    inbox = mailbox.inbox
    assert (inbox.connections, inbox.received, inbox.duplicates()) == (3, 12, 0)
    assert set(inbox.notices) == notice_keys(Notice.objects.values_list("pk", "kind"))
    assert states() == {DeliveryState.SENT: 12}
    assert deliver_pending() == counts()  # nothing twice
    sent = Notice.objects.filter(kind="renewal_succeeded").first()
    assert sent.subject.startswith("Renewal paid: 20.00 USD")  # the words as they went, kept
    assert "Invoice B" in sent.body_text


@pytest.mark.django_db
def test_a_batch_is_loaded_and_rendered_with_a_fixed_number_of_queries(mailbox):
    def queries(notices: int) -> int:
        build_outbox(notices, on=ON)
        with CaptureQueriesContext(connection) as statements:
            assert deliver_pending()["sent"] == notices
        return len(statements)

    # The claim; the notices with their customers, resellers and the resellers
    # above; the invoices, their lines, the lines' orders; the sent ones
    # recorded (and, on SQLite, asked how many: core.sql.update_from_values).
    expected = 6 if connection.vendor == "postgresql" else 7
    assert queries(3) == queries(30) == expected


@pytest.mark.django_db
def test_a_refused_recipient_fails_alone_and_is_retried_later(mailbox):
    build_outbox(9, on=ON)  # three customers, three notices each
    refused = recipients_in_order()[1]
    mailbox.inbox.refused.add(refused)
    now = timezone.now()
    assert deliver_pending(now=now) == counts(sent=6, failed=3, connections=1)  # the connection stays up
    failed = Notice.objects.filter(state=DeliveryState.FAILED)
    assert set(failed.values_list("recipient", flat=True)) == {refused}
    assert all("550" in n.last_error and n.next_attempt_at == now + datetime.timedelta(minutes=1) for n in failed)
    assert deliver_pending(now=now) == counts()  # not before their retry time
    mailbox.inbox.refused.clear()
    assert deliver_pending(now=now + LATER) == counts(sent=3, connections=1)
    assert (mailbox.inbox.received, mailbox.inbox.duplicates()) == (9, 0)
    assert states() == {DeliveryState.SENT: 9}


class DropsOnce(Inbox):
    """Drops the connection, unanswered, at the first message to ``victim``."""

    def __init__(self, victim: str):
        super().__init__(keep=True)
        self.victim, self.dropped = victim, False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if envelope.rcpt_tos == [self.victim] and not self.dropped:
            self.dropped = True
            server.transport.close()
            return "421 4.3.0 gone"  # never reaches the client
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db
def test_a_connection_dropped_mid_batch_is_opened_again_for_the_rest(serve):
    build_outbox(9, on=ON)
    victim = recipients_in_order()[1]
    server = serve(DropsOnce(victim))
    now = timezone.now()
    assert deliver_pending(now=now) == counts(sent=8, failed=1, connections=2)
    lost = Notice.objects.get(state=DeliveryState.FAILED)
    assert lost.recipient == victim
    assert (server.inbox.connections, server.inbox.received) == (2, 8)
    # Its outcome unknown to the portal, the one notice goes again on its retry.
    assert deliver_pending(now=now + LATER) == counts(sent=1, connections=1)
    assert (server.inbox.received, server.inbox.duplicates()) == (9, 0)


class HangsOnce(Inbox):
    """Never answers the first message to ``victim`` (the session hangs)."""

    def __init__(self, victim: str):
        super().__init__(keep=True)
        self.victim, self.hung = victim, False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if envelope.rcpt_tos == [self.victim] and not self.hung:
            self.hung = True
            await asyncio.get_running_loop().create_future()  # never done; cancelled when the server stops
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db
def test_a_server_that_hangs_mid_batch_costs_the_timeout_and_the_one_notice(serve, settings):
    settings.EMAIL_TIMEOUT = 1
    build_outbox(6, on=ON)
    victim = recipients_in_order()[0]
    server = serve(HangsOnce(victim))
    assert deliver_pending() == counts(sent=5, failed=1, connections=2)
    hung = Notice.objects.get(state=DeliveryState.FAILED)
    assert (hung.recipient, "timed out" in hung.last_error) == (victim, True)
    assert server.inbox.received == 5


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel completes them) and never
    says a word: a mail server that hangs before its greeting."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.django_db
def test_a_server_that_never_answers_is_bounded_by_the_timeout_and_the_notices_wait(settings, silent_port, mailbox):
    build_outbox(6, on=ON)
    settings.EMAIL_TIMEOUT = 1
    settings.EMAIL_PORT = silent_port
    now = timezone.now()
    # One timeout, then the run stops: the first batch waits for its retry,
    # the rest for the next run, untouched.
    assert deliver_pending(limit=2, now=now) == counts(failed=2)
    failed = Notice.objects.filter(state=DeliveryState.FAILED)
    assert [("timed out" in n.last_error, n.attempts) for n in failed] == [(True, 1)] * 2
    assert list(Notice.objects.filter(state=DeliveryState.PENDING).values_list("attempts", flat=True)) == [0] * 4
    settings.EMAIL_PORT = mailbox.port  # the server is back
    assert deliver_pending(now=now + LATER) == counts(sent=6, connections=1)
    assert (mailbox.inbox.received, mailbox.inbox.duplicates()) == (6, 0)


@pytest.mark.django_db
def test_a_run_out_of_time_hands_the_rest_back_untried(mailbox, monkeypatch):
    build_outbox(9, on=ON)
    # The run's clock moves a minute with every message the server receives.
    monkeypatch.setattr(delivery, "clock", lambda: 60.0 * mailbox.inbox.received)
    assert deliver_pending(seconds=150) == counts(sent=3, deferred=6, connections=1)
    rest = Notice.objects.filter(state=DeliveryState.PENDING)
    assert [(n.attempts, n.next_attempt_at) for n in rest] == [(0, None)] * 6  # as they were: due now
    monkeypatch.setattr(delivery, "clock", lambda: 0.0)
    assert deliver_pending(seconds=150) == counts(sent=6, connections=1)
    assert (mailbox.inbox.received, mailbox.inbox.duplicates()) == (9, 0)


postgres = pytest.mark.postgres


@postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_one_notice_twice(mailbox):
    build_outbox(60, on=ON)
    start = threading.Barrier(2)
    results: list[dict] = []

    def worker():
        try:
            start.wait()
            results.append(deliver_pending(limit=4))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["sent"] for r in results) == 60
    assert (mailbox.inbox.received, mailbox.inbox.duplicates()) == (60, 0)
    assert states() == {DeliveryState.SENT: 60}


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_notices_another_worker_is_claiming():
    build_outbox(10, on=ON)
    now = timezone.now()
    held, go_on, theirs = threading.Event(), threading.Event(), {}

    def other_worker():
        try:
            with transaction.atomic():  # its claim not committed yet: the rows stay locked
                theirs.update(delivery._claim(4, now, now + datetime.timedelta(minutes=5)))
                held.set()
                go_on.wait()
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    held.wait()
    mine = delivery._claim(10, now, now + datetime.timedelta(minutes=5))
    go_on.set()
    thread.join()
    assert len(theirs) == 4
    assert len(mine) == 6
    assert not set(mine) & set(theirs)


def test_delivery_has_its_own_queue_and_a_worker_that_serves_it():
    from billing_portal.celery import app

    def queue(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert queue("renewals.tasks.deliver_notices") == "notices"
    assert queue("renewals.tasks.nightly_run") == queue("renewals.tasks.sweep_batch") == "celery"
    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    commands = [service.get("command") for service in compose["services"].values()]
    workers = [c for c in commands if isinstance(c, list) and c[:4] == ["celery", "-A", "billing_portal", "worker"]]
    assert any(c[c.index("--queues") + 1] == "notices" for c in workers if "--queues" in c)
    # The other worker serves the default queue: the nightly run never waits behind the mail.
    assert any("--queues" not in c for c in workers)


@pytest.mark.django_db
def test_bench_notices_delivers_each_notice_once_over_one_connection():
    out = io.StringIO()
    call_command("bench_notices", "--notices", "7", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert {k: figures[k] for k in ("notices", "sent", "failed", "received", "duplicates", "connections")} == {
        "notices": 7,
        "sent": 7,
        "failed": 0,
        "received": 7,
        "duplicates": 0,
        "connections": 1,
    }
    assert figures["notices_per_s"] > 0
