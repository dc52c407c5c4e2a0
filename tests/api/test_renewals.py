"""Quotes and renewals over the API: one payment per Idempotency-Key, per login.

The portal (tests/panels/conftest.py): c1 (balance 100.00) has o1 (basic,
10.00 a month, 27.00 for 3, 100.00 for 12), o2 (basic) and o3 (cert, 15.00
for 12 months); its logins are owner and colleague. c9's login is outsider.
"""

import datetime
import time
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from balances.models import Account, EntryKind, LedgerEntry
from catalog.models import PlanPrice
from invoices.models import Invoice
from once import services as once_services
from once.idempotency import STALE, idempotency_keys_purge, request_fingerprint
from once.models import IdempotencyKey, IdempotencyState
from orders.models import Order
from tenants.scope import Actor
from tests.helpers import run_concurrently
from tests.payments.test_card_renewals import intents_of
from tests.payments.test_cards import GOOD, tokenise
from tests.renewals.conftest import snapshot_db  # noqa: F401 - the "nothing was written" fixture

QUOTES = "/api/quotes/"
RENEWALS = "/api/renewals/"


def balance(tenants, ref="c1") -> Decimal:
    return Account.objects.get(customer=tenants.customers[ref]).balance


def charges() -> int:
    return LedgerEntry.objects.filter(kind=EntryKind.RENEWAL).count()


def paid_thru(ref) -> datetime.date:
    return Order.objects.get(ref=ref).expires_on


def batch(tenants, *pairs):
    return [{"order": tenants.orders[ref].pk, "months": months} for ref, months in pairs]


def pay(client, body, key="key-1"):
    return client.post(RENEWALS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def unchanged(snapshot_db, api, tenants):  # noqa: F811
    """unchanged() -> a check that nothing but idempotency records was written
    since the test began (every login's token issued first)."""
    for username in tenants.users:
        api(username)
    before = snapshot_db()

    def check():
        export, counts = snapshot_db()
        ignore = ("once.IdempotencyKey",)
        assert export == before[0]
        assert {k: v for k, v in counts.items() if k not in ignore} == {
            k: v for k, v in before[1].items() if k not in ignore
        }

    return check


@pytest.mark.django_db
def test_quote_then_pay_a_batch_of_three_orders_with_three_periods(api, tenants):
    # Given the owner's three orders, each for its own period
    owner = api("owner")
    o1, o2, o3 = (tenants.orders[ref] for ref in ("o1", "o2", "o3"))
    items = batch(tenants, ("o1", 1), ("o2", 3), ("o3", 12))

    # When they quote
    quote = owner.post(QUOTES, {"items": items}, format="json")

    # Then every line and the total, each line pinned to the order's paid-thru date
    assert quote.status_code == 200, quote.json()
    body = quote.json()
    assert (body["customer"], body["currency"], body["align_day"], body["total"]) == ("c1", "USD", None, "52.00")
    assert [(x["order_id"], x["order"], x["months"], x["amount"]) for x in body["lines"]] == [
        (o1.pk, "o1", 1, "10.00"),
        (o2.pk, "o2", 3, "27.00"),
        (o3.pk, "o3", 12, "15.00"),
    ]
    assert [x["pin"] for x in body["lines"]] == [o.expires_on.isoformat() for o in (o1, o2, o3)]
    assert body["lines"][0]["period_start"] == o1.expires_on.isoformat()
    assert charges() == 0  # a quote charges nothing

    # When they pay it with the pins
    pins = {str(x["order_id"]): x["pin"] for x in body["lines"]}
    paid = pay(owner, {"items": items, "pins": pins, "payment": "balance", "auto_renew_next": [o3.pk]})

    # Then one invoice with the three lines, the balance down by the total, the orders extended
    assert paid.status_code == 201, paid.json()
    invoice = paid.json()
    assert "Idempotent-Replayed" not in paid.headers
    assert (invoice["customer"], invoice["total"], invoice["source"]) == ("c1", "52.00", "manual")
    assert [(x["order"], x["months"], x["amount"]) for x in invoice["lines"]] == [
        ("o1", 1, "10.00"),
        ("o2", 3, "27.00"),
        ("o3", 12, "15.00"),
    ]
    assert [(x["period_start"], x["period_end"]) for x in invoice["lines"]] == [
        (x["period_start"], x["period_end"]) for x in body["lines"]
    ]
    assert Invoice.objects.count() == 1
    assert charges() == 1
    assert balance(tenants) == Decimal("48.00")
    assert paid_thru("o2").isoformat() == body["lines"][1]["period_end"]
    assert Order.objects.get(ref="o3").auto_renew is True  # switched on for the next cycle


@pytest.mark.django_db
def test_a_quote_aligned_to_a_renewal_day_prices_the_extra_days(api, tenants):
    o1 = tenants.orders["o1"]
    day = 1 if o1.expires_on.day != 1 else 2
    body = api("owner").post(QUOTES, {"items": batch(tenants, ("o1", 1)), "align_day": day}, format="json").json()
    line = body["lines"][0]
    assert body["align_day"] == day
    assert datetime.date.fromisoformat(line["period_end"]).day == day
    assert Decimal(line["amount"]) > Decimal("10.00")  # a month and the extra days, pro rata
    assert body["total"] == line["amount"]


@pytest.mark.django_db
def test_the_same_key_twice_charges_once_and_answers_the_same(api, tenants):
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1), ("o2", 3)), "payment": "balance"}

    first = pay(owner, body)
    after_first = (Invoice.objects.count(), LedgerEntry.objects.count(), balance(tenants), paid_thru("o1"))
    # the same request, its keys in another order
    again = pay(owner, {"payment": "balance", "items": [dict(reversed(item.items())) for item in body["items"]]})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.content == first.content  # byte for byte
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (Invoice.objects.count(), LedgerEntry.objects.count(), balance(tenants), paid_thru("o1")) == after_first
    assert after_first[0] == 1
    assert balance(tenants) == Decimal("63.00")


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(api, tenants, unchanged):
    owner = api("owner")
    assert pay(owner, {"items": batch(tenants, ("o1", 1))}).status_code == 201
    state = (Invoice.objects.count(), charges(), balance(tenants))

    other = pay(owner, {"items": batch(tenants, ("o1", 3))})

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert (Invoice.objects.count(), charges(), balance(tenants)) == state


@pytest.mark.django_db
def test_keys_are_per_login(api, tenants):
    # Given the owner used a key
    first = pay(api("owner"), {"items": batch(tenants, ("o1", 1))}, key="order-42")
    assert first.status_code == 201

    # When a colleague (same account) sends another request with the same key string
    theirs = pay(api("colleague"), {"items": batch(tenants, ("o2", 3))}, key="order-42")

    # Then it is their own request, with its own answer: not a replay, not a reused key
    assert theirs.status_code == 201, theirs.json()
    assert "Idempotent-Replayed" not in theirs.headers
    assert [x["order"] for x in theirs.json()["lines"]] == ["o2"]
    assert theirs.json()["number"] != first.json()["number"]
    assert Invoice.objects.count() == 2
    # and the owner's key still answers the owner's request
    again = pay(api("owner"), {"items": batch(tenants, ("o1", 1))}, key="order-42")
    assert again.json() == first.json()
    assert IdempotencyKey.objects.filter(key="order-42").count() == 2


@pytest.mark.django_db
def test_an_outsiders_order_in_a_batch_refuses_the_whole_batch_with_404(api, tenants, unchanged):
    body = {"items": batch(tenants, ("o1", 1), ("o9", 1))}

    quote = api("owner").post(QUOTES, body, format="json")
    paid = pay(api("owner"), body)
    # the other way round: the outsider names the owner's order
    theirs = pay(api("outsider"), {"items": batch(tenants, ("o9", 1), ("o1", 1))})

    for response in (quote, paid, theirs):
        assert response.status_code == 404, response.json()
        assert response.json()["error"]["code"] == "not_found"
    unchanged()


@pytest.mark.django_db
def test_insufficient_funds_changes_nothing_and_its_replay_answers_the_same(api, tenants, unchanged):
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1), ("o2", 12))}  # 110.00 against a balance of 100.00

    refused = pay(owner, body)
    replay = pay(owner, body)

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "insufficient_funds"
    assert "110.00" in refused.json()["error"]["message"]
    assert replay.status_code == 422
    assert replay.json() == refused.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    unchanged()


@pytest.mark.django_db
def test_a_pin_that_moved_is_a_409_conflict_with_nothing_charged(api, tenants):
    # Given a quote, and then o1 renewed elsewhere (another tab, another key)
    owner = api("owner")
    items = batch(tenants, ("o1", 1), ("o2", 1))
    quote = owner.post(QUOTES, {"items": items}, format="json").json()
    assert pay(owner, {"items": batch(tenants, ("o1", 1))}, key="other-tab").status_code == 201
    state = (Invoice.objects.count(), charges(), balance(tenants), paid_thru("o1"), paid_thru("o2"))

    # When the quote is paid with its pins
    pins = {str(x["order_id"]): x["pin"] for x in quote["lines"]}
    stale = pay(owner, {"items": items, "pins": pins}, key="from-the-quote")

    # Then 409 (the state moved: errors.CONFLICT_CODES), nothing charged
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "renewed_meanwhile"
    assert (Invoice.objects.count(), charges(), balance(tenants), paid_thru("o1"), paid_thru("o2")) == state


@pytest.mark.django_db
@pytest.mark.parametrize("payment", ["balance", "card"])
def test_a_price_changed_since_the_quote_is_a_409_with_nothing_charged(
    api,
    tenants,
    snapshot_db,  # noqa: F811
    request,
    payment,
):
    # Given a quote shown to the customer (10.00 + 27.00), then o1's monthly price moves to 12.00
    if payment == "card":
        request.getfixturevalue("stripe_on")
        save_card(tenants, GOOD)
    owner = api("owner")
    items = batch(tenants, ("o1", 1), ("o2", 3))
    quote = owner.post(QUOTES, {"items": items}, format="json").json()
    assert quote["total"] == "37.00"
    PlanPrice.objects.filter(plan=tenants.orders["o1"].plan, months=1).update(amount=Decimal("12.00"))
    before = snapshot_db()

    # When the client pays with the total it showed
    refused = pay(owner, {"items": items, "payment": payment, "expected_total": quote["total"]})

    # Then 409 price_changed, and nothing was charged or written but the key's stored answer
    assert refused.status_code == 409, refused.json()
    assert refused.json()["error"]["code"] == "price_changed"
    assert "(37.00 -> 39.00 USD); nothing was charged" in refused.json()["error"]["message"]
    assert written_since(before, snapshot_db()) == {"once.IdempotencyKey": 1}
    if payment == "card":
        assert intents_of("c1") == []  # Stripe was never called
    # and its replay answers the same
    assert pay(owner, {"items": items, "payment": payment, "expected_total": "37.00"}).json() == refused.json()

    # When the client shows the new quote and pays its total
    requoted = owner.post(QUOTES, {"items": items}, format="json").json()
    paid = pay(owner, {"items": items, "payment": payment, "expected_total": requoted["total"]}, key="key-2")

    # Then that total is what was paid
    assert (requoted["total"], paid.status_code, paid.json()["total"]) == ("39.00", 201, "39.00")
    assert Invoice.objects.count() == 1
    if payment == "card":
        assert [(i.status, i.amount) for i in intents_of("c1")] == [("succeeded", 3900)]
    else:
        assert balance(tenants) == Decimal("61.00")


@pytest.mark.django_db
def test_an_expected_total_that_is_not_an_amount_is_a_400(api, tenants, unchanged):
    response = pay(api("owner"), {"items": batch(tenants, ("o1", 1)), "expected_total": "ten"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["expected_total"]
    unchanged()


def written_since(before, after) -> dict:
    """Rows added per model between two snapshot_db() results; the export must not have changed."""
    assert after[0] == before[0]
    return {label: after[1][label] - count for label, count in before[1].items() if after[1][label] != count}


def save_card(tenants, number):
    from payments.services import card_add

    c1 = tenants.customers["c1"]
    card_add(actor=Actor.system("test"), account_id=c1.pk, payment_method_id=tokenise(number))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_IDEMPOTENCY_KEY": ""}, {"HTTP_IDEMPOTENCY_KEY": "x" * 101}, {"HTTP_IDEMPOTENCY_KEY": "a b"}],
    ids=["missing", "empty", "too-long", "space"],
)
def test_a_missing_or_bad_idempotency_key_is_a_400(api, tenants, unchanged, headers):
    response = api("owner").post(RENEWALS, {"items": batch(tenants, ("o1", 1))}, format="json", **headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    unchanged()
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code", "fields"),
    [
        ({"items": []}, 400, "invalid", ["items"]),
        ({}, 400, "invalid", ["items"]),
        ({"items": [{"order": "{o1}", "months": "x"}]}, 400, "invalid", ["items[0].months"]),
        ({"items": [{"order": "{o1}"}, {"order": -1, "months": 1}]}, 400, "invalid", ["items[1].order"]),
        ({"items": [{"order": "{o1}"}], "payment": "cheque"}, 400, "invalid", ["payment"]),
        ({"items": [5]}, 400, "invalid", ["items[0]"]),
        ({"items": [{"order": "{o1}"}], "auto_renew_next": ["{o1}", "x"]}, 400, "invalid", ["auto_renew_next[1]"]),
        ({"items": [{"order": "{o1}"}], "align_day": 32}, 400, "invalid", ["align_day"]),
        ({"items": [{"order": "{o1}"}], "pins": {"{o2}": "2030-01-01"}}, 400, "invalid", ["pins"]),
        ({"items": [{"order": "{o1}"}], "pins": {"{o1}": "soon"}}, 400, "invalid", ["pins.{o1}"]),
        ({"items": [{"order": "{o1}"}, {"order": "{o1}"}]}, 422, "duplicate", None),
        ({"items": [{"order": "{o1}", "months": 2}]}, 422, "invalid_period", None),
        ({"items": [{"order": "{o3}"}]}, 422, "invalid_period", None),  # a cert sells 12 months only
        ({"items": [{"order": "{o1}"}], "auto_renew_next": ["{o2}"]}, 422, "invalid", None),
    ],
)
def test_bad_bodies_are_refused_with_their_field_paths(api, tenants, unchanged, body, status, code, fields):
    ids = {f"{{{ref}}}": str(o.pk) for ref, o in tenants.orders.items()}

    def fill(value):
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str) and value in ids:
            return int(ids[value])
        if isinstance(value, str):
            return next((value.replace(k, v) for k, v in ids.items() if k in value), value)
        return value

    owner = api("owner")
    body = fill(body)
    if "pins" in body:
        body["pins"] = {str(k): v for k, v in body["pins"].items()}

    response = pay(owner, body)

    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    assert sorted(error.get("fields", {})) == sorted(fill(fields) if fields else [])
    if "pins" not in body and "auto_renew_next" not in body and "payment" not in body:
        # the quote endpoint parses the same items the same way
        quoted = owner.post(QUOTES, body, format="json")
        assert (quoted.status_code, quoted.json()["error"]["code"]) == (status, code)
    unchanged()


@pytest.mark.django_db
def test_switching_on_a_locked_auto_renew_while_renewing_refuses_the_renewal(api, tenants):
    Order.objects.filter(ref="o1").update(auto_renew=False, auto_renew_locked=True)
    o1 = tenants.orders["o1"]
    owner = api("owner")

    refused = pay(owner, {"items": batch(tenants, ("o1", 1)), "auto_renew_next": [o1.pk]})

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "auto_renew_locked"
    assert (charges(), balance(tenants), paid_thru("o1")) == (0, Decimal("100.00"), o1.expires_on)
    assert Invoice.objects.count() == 0


@pytest.mark.django_db
def test_resellers_renew_their_own_customers_orders_only(api, tenants):
    items = batch(tenants, ("o1", 1))

    assert api("acme").post(QUOTES, {"items": items}, format="json").json()["customer"] == "c1"
    for stranger in ("west", "other"):  # a sub-reseller does not see its parent's customers
        assert api(stranger).post(QUOTES, {"items": items}, format="json").status_code == 404
        assert pay(api(stranger), {"items": items}).status_code == 404
    paid = pay(api("acme"), {"items": items})

    assert paid.status_code == 201
    assert balance(tenants) == Decimal("90.00")


@pytest.mark.django_db
def test_anonymous_calls_are_401(client, tenants):
    assert client.post(QUOTES, {}, content_type="application/json").status_code == 401
    assert client.post(RENEWALS, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k").status_code == 401


@pytest.mark.django_db
def test_an_unexpected_error_releases_the_key_and_the_retry_pays_once(api, tenants, monkeypatch):
    # Given a balance payment that breaks after paying, before answering (its transaction rolls back)
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1))}
    real = once_services.renewal_pay

    def pays_then_breaks(**kwargs):
        real(**kwargs)
        raise RuntimeError("worker lost")

    monkeypatch.setattr(once_services, "renewal_pay", pays_then_breaks)
    with pytest.raises(RuntimeError):
        pay(owner, body)
    assert (charges(), balance(tenants), IdempotencyKey.objects.get().state) == (0, Decimal("100.00"), "failed")
    monkeypatch.setattr(once_services, "renewal_pay", real)

    # When the client retries with the same key
    retry = pay(owner, body)

    # Then it is paid, once
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert (charges(), balance(tenants)) == (1, Decimal("90.00"))
    assert pay(owner, body).json() == retry.json()


@pytest.mark.django_db
def test_a_retry_after_a_crash_between_a_card_payment_and_its_answer_charges_nothing(api, tenants, monkeypatch):
    """The card path commits its payment before the answer can be stored: a
    crash in between leaves the key released with the pins it priced, and the
    retry (no pins in its body) is refused for those pinned cycles instead of
    renewing the next ones."""
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1)), "payment": "card"}
    real = once_services.renewal_pay

    def card_paid_then_crash(**kwargs):
        real(**{**kwargs, "payment": "balance"})  # stands in for the charge: committed outside the key's transaction
        raise RuntimeError("worker lost after the charge")

    monkeypatch.setattr(once_services, "renewal_pay", card_paid_then_crash)
    with pytest.raises(RuntimeError):
        pay(owner, body)
    assert (charges(), balance(tenants)) == (1, Decimal("90.00"))  # paid, but never answered
    monkeypatch.setattr(once_services, "renewal_pay", real)

    retry = pay(owner, body)

    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "renewed_meanwhile"
    assert (charges(), balance(tenants), Invoice.objects.count()) == (1, Decimal("90.00"), 1)


@pytest.mark.django_db
def test_a_replay_while_the_first_request_runs_is_a_409(api, tenants, monkeypatch):
    owner, colleague = api("owner"), api("owner")
    body = {"items": batch(tenants, ("o1", 1))}
    real = once_services.renewal_pay
    meanwhile = []

    def replayed_meanwhile(**kwargs):
        meanwhile.append(pay(colleague, body))  # the same login and key, while the first one pays
        return real(**kwargs)

    monkeypatch.setattr(once_services, "renewal_pay", replayed_meanwhile)
    first = pay(owner, body)

    assert first.status_code == 201
    assert meanwhile[0].status_code == 409
    assert meanwhile[0].json()["error"]["code"] == "idempotency_in_progress"
    assert charges() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("age", "status"), [(STALE / 2, 409), (STALE * 2, 201)])
def test_a_claim_left_in_progress_by_a_killed_worker_is_taken_over_when_stale(api, tenants, age, status):
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1))}
    IdempotencyKey.objects.create(
        user=tenants.users["owner"],
        key="key-1",
        fingerprint=request_fingerprint(method="POST", path=RENEWALS, body=body),
        holder="dead",
        claimed_at=timezone.now() - age,
        created_at=timezone.now() - age,
    )

    response = pay(owner, body)

    assert response.status_code == status, response.json()
    assert charges() == (1 if status == 201 else 0)


@pytest.mark.django_db
def test_keys_are_kept_24_hours_then_purged_and_free_again(api, tenants):
    owner = api("owner")
    with time_machine.travel(timezone.now() - datetime.timedelta(hours=25)):
        assert pay(owner, {"items": batch(tenants, ("o1", 1))}, key="old").status_code == 201
    assert pay(owner, {"items": batch(tenants, ("o2", 1))}, key="new").status_code == 201

    # an expired key is a new request, even before the purge ran
    again = pay(owner, {"items": batch(tenants, ("o1", 3))}, key="old")
    assert again.status_code == 201, again.json()
    assert Invoice.objects.count() == 3

    with time_machine.travel(timezone.now() + datetime.timedelta(hours=25)):
        assert idempotency_keys_purge() == 2
    assert idempotency_keys_purge() == 0
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_the_same_key_charge_once(api, tenants, monkeypatch):
    owner = api("owner")
    body = {"items": batch(tenants, ("o1", 1), ("o2", 3))}
    real = once_services.renewal_pay

    def slow(**kwargs):
        time.sleep(1)  # hold the claim long enough for the other request to meet it
        return real(**kwargs)

    monkeypatch.setattr(once_services, "renewal_pay", slow)

    results = run_concurrently([lambda: pay(owner, body), lambda: pay(owner, body)])

    assert not [r for r in results if isinstance(r, Exception)], results
    first = [r for r in results if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(first) == 1, [(r.status_code, r.json()) for r in results]
    other = next(r for r in results if r is not first[0])
    if other.status_code == 409:  # it met the first one's claim while that one was paying (the usual case)
        assert other.json()["error"]["code"] == "idempotency_in_progress"
    else:  # or it came after the first had finished
        assert (other.status_code, other.headers["Idempotent-Replayed"]) == (201, "true")
        assert other.json() == first[0].json()
    assert (Invoice.objects.count(), charges(), balance(tenants)) == (1, 1, Decimal("63.00"))
    assert IdempotencyKey.objects.get().state == IdempotencyState.DONE
    # and once the first is done, the same request is its replay
    replay = pay(owner, body)
    assert (replay.status_code, replay.json()) == (201, first[0].json())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payments_of_one_quote_with_different_keys_charge_once(api, tenants):
    owner = api("owner")
    items = batch(tenants, ("o1", 1), ("o2", 3))
    quote = owner.post(QUOTES, {"items": items}, format="json").json()
    body = {"items": items, "pins": {str(x["order_id"]): x["pin"] for x in quote["lines"]}}

    results = run_concurrently([lambda: pay(owner, body, key="tab-1"), lambda: pay(owner, body, key="tab-2")])

    answers = sorted((r.status_code, r.json().get("error", {}).get("code")) for r in results)
    assert answers == [(201, None), (409, "renewed_meanwhile")]
    assert (Invoice.objects.count(), charges(), balance(tenants)) == (1, 1, Decimal("63.00"))
