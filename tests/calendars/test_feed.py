"""The public feed: a customer's and a reseller's calendar parsed back with
icalendar, revoked and unknown URLs, caching, throttling, a broken order,
and a fixed number of queries."""

from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from calendars import selectors
from calendars.services import feed_rotate
from catalog.models import Plan
from orders.models import Order
from orders.states import OrderStatus
from renewals.rules import WHAT_TO_DO, Reason
from tenants.models import Customer, Reseller
from tenants.scope import actor_for_user
from tests.calendars.conftest import events, fetch, url_of
from tests.factories import OrderFactory

HOST = "127.0.0.1"  # settings.PORTAL_URL's: the events' UIDs


def uid(order: Order, kind: str) -> str:
    return f"order-{order.pk}-{order.expires_on.isoformat()}-{kind}@{HOST}"


def yearly(tenants, ref: str, days: int, **fields) -> Order:
    """An order of c1's on the basic plan for 12 months, expiring in ``days``."""
    return OrderFactory(
        ref=ref,
        customer=tenants.customers["c1"],
        plan=Plan.objects.get(ref="basic"),
        tenure_months=12,
        expires_on=tenants.days(days),
        auto_renew=True,
        **fields,
    )


def test_an_auto_renewing_order_shows_its_expiry_and_its_first_attempt_night(tenants):
    # given: a yearly order expiring in 60 days (its window opens 30 days before)
    order = yearly(tenants, "y1", 60, domain="example.com")

    # when: its customer's calendar app fetches the feed
    response = fetch(url_of(tenants, "owner"))

    # then: an all-day expiry on the paid-thru date, and the attempt on the window's first night
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    found = events(response)
    expiry, attempt = found[uid(order, "expiry")], found[uid(order, "attempt")]
    assert expiry["day"] == tenants.days(60)
    assert expiry["summary"] == "y1 example.com expires"
    assert (
        f"It renews automatically on {tenants.days(30).isoformat()} (100.00 USD from the balance)."
        in (expiry["description"])
    )
    assert attempt["day"] == tenants.days(30)
    assert attempt["summary"] == "y1 example.com renews automatically (100.00 USD from the balance)"


def test_an_order_in_its_window_is_tried_tonight(tenants):
    # o1 (a month, expiring in 5 days) is inside its 7-day window already
    found = events(fetch(url_of(tenants, "owner")))
    o1 = tenants.orders["o1"]
    assert found[uid(o1, "attempt")]["day"] == tenants.today
    summary = "o1 (Basic, 1 month(s)) renews automatically (10.00 USD from the balance)"
    assert found[uid(o1, "attempt")]["summary"] == summary


def test_an_order_with_auto_renew_off_says_it_will_not_renew_why_and_what_to_do(tenants):
    # o3: auto-renew switched off
    found = events(fetch(url_of(tenants, "owner")))
    o3 = tenants.orders["o3"]
    expiry = found[uid(o3, "expiry")]
    assert expiry["day"] == tenants.days(40)
    assert expiry["summary"] == "o3 (Cert, 12 month(s)) expires (will not renew automatically)"
    reason = Reason.ORDER_AUTO_RENEW_OFF
    assert f"Why: {reason.label} What to do: {WHAT_TO_DO[reason]}" in expiry["description"]
    assert uid(o3, "attempt") not in found


def test_a_customer_reads_that_a_locked_switch_is_its_providers(tenants):
    # the same words as "why won't this renew?" (renewals.selectors.what_to_do_about)
    Order.objects.filter(ref="o3").update(auto_renew_locked=True)
    expiry = events(fetch(url_of(tenants, "owner")))[uid(tenants.orders["o3"], "expiry")]
    assert "Your provider locked this order's renewal" in expiry["description"]


def test_terminated_endless_and_far_orders_have_no_events(tenants):
    gone = yearly(tenants, "gone", 10)
    Order.objects.filter(pk=gone.pk).update(status=OrderStatus.TERMINATED)
    endless = OrderFactory(
        ref="forever", customer=tenants.customers["c1"], plan=Plan.objects.get(ref="life"), expires_on=None
    )
    far = yearly(tenants, "far", 401)

    found = events(fetch(url_of(tenants, "owner")))

    none = (f"order-{gone.pk}-", f"order-{endless.pk}-", f"order-{far.pk}-")
    assert not [key for key in found if key.startswith(none)]
    # and the customer's own orders only: c1 has o1, o2, o3 (2 + 2 + 1 events)
    assert sorted(key.split("-")[1] for key in found) == sorted(
        [str(tenants.orders[ref].pk) for ref in ("o1", "o1", "o2", "o2", "o3")]
    )


def test_a_renewed_order_shows_its_next_cycle_with_new_uids(tenants):
    order = yearly(tenants, "y1", 60)
    before = set(events(fetch(url_of(tenants, "owner"))))
    Order.objects.filter(pk=order.pk).update(expires_on=tenants.days(60 + 300))
    order.refresh_from_db()
    after = events(fetch(url_of(tenants, "owner")))
    assert uid(order, "expiry") in after
    assert uid(order, "expiry") not in before


def test_the_same_feed_twice_has_the_same_uids_and_bytes_and_answers_304_to_its_etag(tenants):
    url = url_of(tenants, "owner")
    first, second = fetch(url), fetch(url)
    assert set(events(first)) == set(events(second))
    assert events(first)
    assert first.content == second.content
    assert first["ETag"] == second["ETag"]
    assert fetch(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_the_calendar_asks_apps_to_refresh_and_caches_stay_private(tenants):
    response = fetch(url_of(tenants, "owner"))
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "Renewals: Jane Doe"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT12H" in response.content
    assert b"X-PUBLISHED-TTL:PT12H" in response.content
    assert response["Cache-Control"] == "private, max-age=900"
    assert response["Referrer-Policy"] == "no-referrer"
    # no session, no CSRF cookie: a calendar app keeps none
    assert not response.cookies


def test_a_resellers_feed_holds_its_sub_resellers_customers_and_no_strangers(tenants):
    found = events(fetch(url_of(tenants, "acme")))
    summaries = [event["summary"] for event in found.values()]
    # c2 is west's customer, west is under acme: named in the event
    assert uid(tenants.orders["o4"], "expiry") in found
    assert "Wes Tern: o4 (Basic, 1 month(s)) expires" in summaries
    assert "Jane Doe: o1 (Basic, 1 month(s)) expires" in summaries
    # c9 is other's
    assert uid(tenants.orders["o9"], "expiry") not in found
    # and west's own feed holds c2's only
    west = events(fetch(url_of(tenants, "west")))
    assert {key.split("-")[1] for key in west} == {str(tenants.orders["o4"].pk)}


def test_a_resellers_feed_looks_90_days_ahead(tenants):
    near, far = yearly(tenants, "near", 90), yearly(tenants, "far", 91)
    found = events(fetch(url_of(tenants, "acme")))
    assert uid(near, "expiry") in found
    assert uid(far, "expiry") not in found


def test_a_rotated_url_answers_404_and_the_new_one_works(tenants):
    old = url_of(tenants, "owner")
    assert fetch(old).status_code == 200

    feed_rotate(actor=actor_for_user(tenants.users["owner"]))

    assert fetch(old).status_code == 404
    new = url_of(tenants, "owner")
    assert new != old
    assert fetch(new).status_code == 200


@pytest.mark.parametrize("secret", ["A" * 43, "short", "x" * 70, "has space" + "a" * 40])
def test_an_unknown_secret_answers_404(tenants, secret):
    assert fetch(f"/calendar/{secret}.ics").status_code == 404


def test_an_order_that_cannot_be_shown_is_left_out_and_named_the_rest_shown(tenants, monkeypatch):
    # given: wording one order fails (a fault injected into o2 only)
    real = selectors.order_events

    def broken(view, outlook, host):
        if view.ref == "o2":
            raise RuntimeError("injected")
        return real(view, outlook, host)

    monkeypatch.setattr(selectors, "order_events", broken)

    response = fetch(url_of(tenants, "owner"))

    assert response.status_code == 200
    found = events(response)
    assert uid(tenants.orders["o1"], "expiry") in found
    assert uid(tenants.orders["o3"], "expiry") in found
    assert uid(tenants.orders["o2"], "expiry") not in found
    assert "1 order(s) could not be shown: o2." in str(Calendar.from_ical(response.content)["x-wr-caldesc"])


def test_a_feed_past_its_cap_says_until_when_it_is_whole_and_counts_the_rest_per_day(tenants, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_ORDERS", 2)
    response = fetch(url_of(tenants, "acme"))  # o1 (5 days), o4 (6), o2 (20), o3 (40): the first two listed
    found = events(response)
    listed = {key.split("-")[1] for key in found if key.startswith("order-")}
    assert listed == {str(tenants.orders["o1"].pk), str(tenants.orders["o4"].pk)}
    more = sorted((event["day"], event["summary"]) for key, event in found.items() if key.startswith("feed-"))
    assert more == [(tenants.days(20), "1 more order(s) expire"), (tenants.days(40), "1 more order(s) expire")]
    description = str(Calendar.from_ical(response.content)["x-wr-caldesc"])
    assert f"complete up to {tenants.days(5).isoformat()}" in description


def test_a_feed_reads_a_fixed_number_of_queries_whatever_its_orders(tenants):
    url = urlsplit(url_of(tenants, "acme")).path

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert fetch(url).status_code == 200
        return len(captured)

    few = queries()
    for n in range(30):
        yearly(tenants, f"more{n}", 40 + n)
    # the feed by its secret, the orders, their accounts, the catalog's plans,
    # prices and resellers: the same whatever the number of orders
    assert queries() == few
    assert few <= 7


def test_a_feed_fetched_too_often_answers_429(tenants, settings):
    settings.CALENDAR_FETCHES_PER_HOUR = 2
    url = url_of(tenants, "owner")
    assert [fetch(url).status_code for _ in range(3)] == [200, 200, 429]
    # another feed is counted on its own
    assert fetch(url_of(tenants, "colleague")).status_code == 429  # the same customer's feed
    assert fetch(url_of(tenants, "acme")).status_code == 200


def test_an_address_that_misses_too_often_is_refused_before_any_lookup(tenants, settings):
    settings.CALENDAR_MISSES_PER_HOUR = 2
    url = url_of(tenants, "owner")
    assert [fetch(f"/calendar/{'B' * 43}.ics").status_code for _ in range(2)] == [404, 404]
    assert fetch(url).status_code == 429


def test_the_feed_takes_no_post(tenants):
    assert Client().post(urlsplit(url_of(tenants, "owner")).path).status_code in (403, 405)


def test_inside_its_window_the_attempt_is_on_the_retry_policys_next_night(tenants):
    # given: acme retries on 7, 3, 1 and 0 days before expiry; o1 expires in 5 days (its window opened 2 days ago)
    Reseller.objects.filter(ref="acme").update(retry_own=True, retry_days=[7, 3, 1, 0], last_chance_day=0)
    o1 = tenants.orders["o1"]

    found = events(fetch(url_of(tenants, "owner")))

    # then: tried next 3 days before expiry, not tonight
    assert found[uid(o1, "attempt")]["day"] == tenants.days(2)
    assert f"next attempt on {tenants.days(2).isoformat()} (retry policy)" in found[uid(o1, "expiry")]["description"]

    # and a customer exempt from the policy is tried every night: tonight
    Customer.objects.filter(ref="c1").update(retry_exempt=True)
    assert events(fetch(url_of(tenants, "owner")))[uid(o1, "attempt")]["day"] == tenants.today
