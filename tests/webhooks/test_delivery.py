"""The delivery worker against a real HTTP receiver on 127.0.0.1: signed
(and verified by the snippet docs/webhooks.md documents), retried with
backoff after a failure, never sent twice after a 2xx, the endpoint
disabled and its reseller mailed once after 3 days of failures."""

import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from core.models import Fault
from tenants.models import Membership
from tests.factories import member
from tests.webhooks.conftest import endpoint_for, order
from webhooks import delivery as worker
from webhooks.delivery import MAX_BACKOFF, backoff, deliver_due
from webhooks.models import Delivery, DeliveryState, Endpoint, Event
from webhooks.services import EventSpec, events_emit, url_checked

D = datetime.date
UTC = datetime.UTC
T0 = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DOCS = Path(settings.BASE_DIR) / "docs" / "webhooks.md"


def documented_verify():
    """The docs' verification snippet, executed as a reader would paste it."""
    text = DOCS.read_text()
    match = re.search(r"<!-- verification snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its verification snippet"
    namespace: dict = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - the documented code itself
    return namespace["verify"]


@pytest.fixture
def one_event(portal, receiver):
    """A portal with reseller r1 and customer c1, an endpoint of r1 at the
    receiver, and one order.renewed event waiting for it."""
    portal([order("o1", D(2026, 12, 20))])
    endpoint = endpoint_for("r1", receiver.url)
    emit("order:1:2026-12-20")
    return endpoint


def emit(key: str, reseller="r1") -> None:
    from tenants.models import Customer

    customer = Customer.objects.get(ref="c1")
    events_emit([EventSpec("order.renewed", key, customer.reseller_id, customer.pk, {"order": {"ref": "o1"}})])


@time_machine.travel(T0, tick=False)
def test_a_delivery_is_signed_and_verifies_with_the_documented_snippet(one_event, receiver):
    assert deliver_due()["delivered"] == 1
    (request,) = receiver.received
    event = Event.objects.get()
    assert request.json == {"id": event.public_id, "type": "order.renewed",
                            "created": int(event.created_at.timestamp()), "data": {"order": {"ref": "o1"}}}  # fmt: skip
    assert request.headers["Portal-Event-Id"] == event.public_id
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("BillingPortal-Webhooks/")
    header = request.headers["Portal-Signature"]
    assert re.fullmatch(rf"t={int(T0.timestamp())},v1=[0-9a-f]{{64}}", header)
    verify = documented_verify()
    secret = one_event.secret
    assert verify(request.body, header, secret)
    # Tampered with, signed with another secret, or replayed 6 minutes later: refused.
    assert not verify(request.body.replace(b"o1", b"o2"), header, secret)
    assert not verify(request.body, header, secret + "x")
    assert not verify(request.body, header, secret, now=T0.timestamp() + 301)
    assert not verify(request.body, "v1=abc", secret)


def test_a_200_is_never_sent_twice(one_event, receiver):
    assert deliver_due()["delivered"] == 1
    assert deliver_due() == {"delivered": 0, "failed": 0, "disabled": 0, "told": 0}
    assert len(receiver.received) == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_response) == (
        DeliveryState.DELIVERED, 1, 200, "ok",
    )  # fmt: skip


def test_a_500_is_retried_after_its_backoff_with_the_same_event_id_then_delivered(one_event, receiver):
    receiver.answers = [(500, "database down" + "x" * 5000), (503, "still"), (200, "ok")]
    with time_machine.travel(T0, tick=False) as clock:
        assert deliver_due()["failed"] == 1
        delivery = Delivery.objects.get()
        assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.FAILED, 1, 500)
        assert delivery.next_attempt_at == T0 + datetime.timedelta(minutes=1)
        assert delivery.last_response.startswith("database down")
        assert len(delivery.last_response) == 2000
        # Not due yet: nothing is sent.
        clock.move_to(T0 + datetime.timedelta(seconds=59))
        assert deliver_due()["failed"] == 0
        assert len(receiver.received) == 1
        clock.move_to(T0 + datetime.timedelta(minutes=1))
        assert deliver_due()["failed"] == 1
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == T0 + datetime.timedelta(minutes=1 + 2)
        clock.move_to(T0 + datetime.timedelta(minutes=3))
        assert deliver_due()["delivered"] == 1
    ids = {r.json["id"] for r in receiver.received} | {r.headers["Portal-Event-Id"] for r in receiver.received}
    assert ids == {Event.objects.get().public_id}
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (DeliveryState.DELIVERED, 3, None)
    assert Endpoint.objects.get().failing_since is None


def test_a_refused_connection_is_a_failed_try(portal, receiver):
    portal([order("o1", D(2026, 12, 20))])
    endpoint_for("r1", "http://127.0.0.1:9/nothing-listens")  # the discard port: refused
    emit("k1")
    assert deliver_due()["failed"] == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.last_status is None
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error.lower()


@pytest.mark.parametrize(("attempts", "minutes"), [(1, 1), (2, 2), (3, 4), (9, 256), (10, 360), (30, 360), (500, 360)])
def test_the_backoff_doubles_from_a_minute_up_to_six_hours(attempts, minutes):
    assert backoff(attempts) == datetime.timedelta(minutes=minutes) <= MAX_BACKOFF


def test_an_endpoint_failing_for_3_days_is_disabled_its_reseller_mailed_once_its_deliveries_kept(
    one_event, receiver, mailoutbox
):
    member(reseller=one_event.reseller, email="ops@acme.test")
    member(reseller=one_event.reseller, email="")  # a login with no address is skipped
    receiver.answers = [(500, "no")]
    with time_machine.travel(T0, tick=False) as clock:
        deliver_due()
        assert Endpoint.objects.get().failing_since == T0
        # Still failing, but not 3 days yet: enabled.
        clock.move_to(T0 + datetime.timedelta(days=2, hours=23))
        deliver_due()
        assert Endpoint.objects.get().enabled
        clock.move_to(T0 + datetime.timedelta(days=3, minutes=1))
        emit("k2")  # another event, due now
        counts = deliver_due()
        assert (counts["disabled"], counts["told"]) == (1, 1)
        endpoint = Endpoint.objects.get()
        assert not endpoint.enabled
        assert endpoint.disabled_reason == "every delivery failed for 3 days"
        (mail,) = mailoutbox
        assert sorted(mail.to) == ["billing@acme.test", "ops@acme.test"]
        assert one_event.url in mail.body
        assert "Webhooks" in mail.body
        # Later passes send nothing to it and mail nobody again.
        clock.move_to(T0 + datetime.timedelta(days=5))
        sent = len(receiver.received)
        assert deliver_due() == {"delivered": 0, "failed": 0, "disabled": 0, "told": 0}
        assert len(receiver.received) == sent
        assert len(mailoutbox) == 1
        # New events are not queued for it; the ones it missed are kept.
        emit("k3")
        assert Event.objects.count() == 2
        assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.FAILED}
    assert Membership.objects.filter(reseller=one_event.reseller).count() == 2


def test_enabling_again_sends_what_waited(one_event, receiver):
    from tests.webhooks.conftest import staff
    from webhooks.services import endpoint_update

    receiver.answers = [(500, "no"), (500, "no"), (200, "ok")]
    with time_machine.travel(T0, tick=False) as clock:
        deliver_due()
        clock.move_to(T0 + datetime.timedelta(days=3, minutes=1))
        deliver_due()
        assert not Endpoint.objects.get().enabled
        clock.move_to(T0 + datetime.timedelta(days=3, minutes=2))
        endpoint_update(actor=staff(one_event.reseller), endpoint_id=one_event.pk, enabled=True)
        assert deliver_due()["delivered"] == 1
    endpoint = Endpoint.objects.get()
    assert endpoint.enabled
    assert endpoint.failing_since is None
    assert endpoint.disabled_at is None


def test_one_delivery_that_raises_is_a_fault_and_the_others_go_out(one_event, receiver, monkeypatch):
    emit("k2")
    emit("k3")
    broken = Event.objects.get(key="k2").public_id
    body_of = worker.body_of

    def failing(delivery):
        if delivery.event.public_id == broken:
            raise RuntimeError("cannot serialise this one")
        return body_of(delivery)

    monkeypatch.setattr(worker, "body_of", failing)
    with time_machine.travel(T0, tick=False):
        counts = deliver_due()
    assert (counts["delivered"], counts["failed"]) == (2, 1)
    assert {r.json["id"] for r in receiver.received} == set(Event.objects.exclude(public_id=broken).values_list(
        "public_id", flat=True))  # fmt: skip
    failed = Delivery.objects.get(event__public_id=broken)
    assert failed.state == DeliveryState.FAILED
    assert "cannot serialise this one" in failed.last_error
    assert failed.next_attempt_at == T0 + datetime.timedelta(minutes=1)
    fault = Fault.objects.get()
    assert fault.subject == f"webhook-delivery:{failed.pk}"


def test_after_max_attempts_a_delivery_is_given_up_until_redelivered(one_event, receiver):
    from tests.webhooks.conftest import staff
    from webhooks.services import delivery_redeliver

    receiver.answers = [(500, "no")]
    Delivery.objects.update(attempts=worker.MAX_ATTEMPTS - 1)
    deliver_due()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.next_attempt_at) == (DeliveryState.DEAD, None)
    assert deliver_due()["failed"] == 0
    receiver.answers = [(204, "")]
    delivery_redeliver(actor=staff(one_event.reseller), delivery_id=delivery.pk)
    assert deliver_due()["delivered"] == 1
    assert receiver.received[-1].json["id"] == receiver.received[0].json["id"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/portal", None),
        ("http://127.0.0.1:8000/x", None),  # loopback over http: tests and DEBUG only
        ("http://localhost/x", None),
        ("http://hooks.example.com/portal", "must start with https://"),
        ("https://10.0.0.5/x", "private or local"),
        ("https://169.254.169.254/latest", "private or local"),
        ("https://localhost/x", "private or local"),
        ("https://user:pw@hooks.example.com/", "without a user"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("", "give the endpoint's URL"),
        ("https://" + "a" * 500 + ".com/", "at most 500"),
        ("https://hooks.example.com:99999/", "not a URL"),
    ],
)
def test_an_endpoint_url_is_checked(url, problem):
    from webhooks.services import WebhookError

    if problem is None:
        assert url_checked(url) == url
    else:
        with pytest.raises(WebhookError, match=re.escape(problem)) as refused:
            url_checked(url)
        assert refused.value.field == "url"


def test_http_to_loopback_is_refused_unless_allowed(settings):
    from webhooks.services import WebhookError

    settings.WEBHOOK_INSECURE_LOOPBACK = False
    with pytest.raises(WebhookError, match="https://"):
        url_checked("http://127.0.0.1:8000/x")


def test_a_malformed_answer_is_a_failed_try_not_a_fault(portal):
    import socket
    import threading

    portal([order("o1", D(2026, 12, 20))])
    server = socket.create_server(("127.0.0.1", 0))

    def garbage():
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"this is not HTTP\r\n\r\n")
        connection.close()

    thread = threading.Thread(target=garbage)
    thread.start()
    endpoint_for("r1", f"http://127.0.0.1:{server.getsockname()[1]}/hooks")
    emit("k1")
    assert deliver_due()["failed"] == 1
    thread.join()
    server.close()
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.last_error
    assert not Fault.objects.exists()
