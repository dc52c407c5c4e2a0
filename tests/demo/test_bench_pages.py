"""bench_pages, small: its data set, its statistics, and its load (signed in
to the panels with a session and CSRF, to the API with a token) against the
test's live server. Gunicorn itself is left to the command: starting it here
would only time the machine, and the command fails loudly when it does not
answer."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from knox.auth import TokenAuthentication

from demo.pagebench.data import build, existing
from demo.pagebench.load import PAGES, load, percentile, queries_per_page, summarise
from orders.models import Order
from renewals.models import OrderOutcome
from tenants.models import Customer

ON = datetime.date(2026, 3, 2)


@pytest.mark.parametrize(("share", "expected"), [(0.5, 3), (0.95, 5), (1.0, 5), (0.01, 1)])
def test_percentiles_are_nearest_rank(share, expected):
    assert percentile([5, 1, 4, 2, 3], share) == expected


def test_a_summary_in_milliseconds():
    stats = summarise("orders", [0.010] * 19 + [0.200], queries=8, size=1024)
    assert (stats.requests, stats.p50_ms, stats.p95_ms, stats.max_ms, stats.queries) == (20, 10.0, 10.0, 200.0, 8)


@pytest.mark.django_db
def test_the_data_set_has_its_shape_and_logins():
    data = build(customers=20, big_orders=60, orders_each=2, seed=1, on=ON)
    assert Customer.objects.filter(reseller_id=data.reseller_id).count() == 20
    assert Order.objects.filter(customer_id=data.big_customer_id).count() == 60
    assert data.orders == Order.objects.filter(customer__reseller_id=data.reseller_id).count() == 60 + 19 * 2
    statuses = set(Order.objects.filter(customer_id=data.big_customer_id).values_list("status", flat=True))
    assert statuses == {"active", "suspended", "terminated"}
    failed = OrderOutcome.objects.filter(order__customer__reseller_id=data.reseller_id).select_related("order")
    assert all(o.order.status == "active" and o.cycle == o.order.expires_on for o in failed)
    users = get_user_model().objects
    customer = users.get(username=data.customer_login)
    assert customer.check_password(data.password)
    assert customer.membership.customer_id == data.big_customer_id
    assert users.get(username=data.reseller_login).membership.reseller_id == data.reseller_id
    user, _ = TokenAuthentication().authenticate_credentials(data.reseller_token.encode())
    assert user.username == data.reseller_login
    again = existing(data.tag)  # --tag: the same data set, new tokens
    assert (again.big_customer_id, again.orders) == (data.big_customer_id, data.orders)
    assert again.customer_token != data.customer_token


@pytest.mark.django_db(transaction=True)
def test_the_load_signs_in_and_reads_every_page(live_server, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # plain HTTP on loopback
    data = build(customers=30, big_orders=40, orders_each=1, seed=2, on=ON)
    results = load(live_server.url, data, requests=3, warmup=1, concurrency=2)
    assert [name for name, _, _ in results] == [p.name for p in PAGES]
    assert all(len(seconds) == 3 and size > 0 for _, seconds, size in results)
    counts = queries_per_page(data)
    assert set(counts) == {p.name for p in PAGES}
    assert all(n > 0 for n in counts.values())
