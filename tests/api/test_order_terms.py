"""An order's renewal terms in the API (SPEC "Per-order settings"): orders
show lead_days, individual_price and after_renewal (and the detail the price
its next renewal is at); resellers change them with PATCH; a customer may
not; a bad term is refused and changes nothing; another tenant's order is a
404."""

import pytest

from audit.models import AuditEvent
from orders.models import Order

pytestmark = pytest.mark.django_db


def url(tenants, ref):
    return f"/api/orders/{tenants.orders[ref].pk}/"


def terms_of(tenants, ref):
    order = Order.objects.get(pk=tenants.orders[ref].pk)
    return order.lead_days, order.individual_price, order.after_renewal, order.auto_renew


def test_a_reseller_sets_the_terms_and_the_customer_sees_the_price_it_renews_at(tenants, api):
    answer = api("acme").patch(
        url(tenants, "o1"), {"lead_days": 3, "individual_price": "7.50", "after_renewal": "plan"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["lead_days"], body["individual_price"], body["after_renewal"]) == (3, "7.50", "plan")
    assert body["renews_at"] == "7.50"
    # o1 is paid thru in 5 days: its own 3 days put the first attempt in 2 days, not tonight.
    assert body["next_attempt"] == tenants.days(2).isoformat()
    assert {"months": 1, "price": "7.50"} in body["periods"]
    for username in ("owner", "colleague"):
        seen = api(username).get(url(tenants, "o1")).json()
        assert (seen["individual_price"], seen["renews_at"], seen["lead_days"]) == ("7.50", "7.50", 3), username
    listed = {row["ref"]: row for row in api("owner").get("/api/orders/").json()["results"]}
    assert (listed["o1"]["individual_price"], listed["o2"]["individual_price"]) == ("7.50", None)
    assert AuditEvent.objects.filter(action="order.individual_price", actor_label="acme").count() == 1
    # null: back to the plan's.
    cleared = api("acme").patch(url(tenants, "o1"), {"individual_price": None, "lead_days": None}, format="json")
    assert (cleared.json()["individual_price"], cleared.json()["renews_at"]) == (None, "10.00")
    assert cleared.json()["next_attempt"] == tenants.today.isoformat()  # the plan's 7 days: open


def test_a_sub_reseller_sets_terms_in_its_own_subtree_only(tenants, api):
    assert api("west").patch(url(tenants, "o4"), {"lead_days": 2}, format="json").status_code == 200
    for username in ("west", "other"):
        answer = api(username).patch(url(tenants, "o1"), {"lead_days": 2}, format="json")
        assert answer.status_code == 404, username
    assert terms_of(tenants, "o1")[0] is None


@pytest.mark.parametrize("username", ["owner", "colleague", "outsider"])
def test_a_customer_may_not_set_terms(tenants, api, username):
    for body in ({"lead_days": 3}, {"individual_price": "1.00"}, {"after_renewal": "plan"}):
        answer = api(username).patch(url(tenants, "o1"), body, format="json")
        assert answer.status_code == 403, (username, body)
        assert answer.json()["error"]["code"] == "forbidden"
        assert "set by your provider" in answer.json()["error"]["message"]
    assert terms_of(tenants, "o1") == (None, None, "keep", True)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"lead_days": 28}, 422, "at most 27, not 28"),  # o1 renews at 1 month: 28 days
        ({"lead_days": 28, "auto_renew": False}, 422, "at most 27"),  # the switch is not changed either
        ({"individual_price": "7.505"}, 422, "finer than USD's minor unit"),
        ({"individual_price": "7.5055"}, 400, "individual_price"),
        ({"individual_price": "-1.00"}, 400, "individual_price"),
        ({"individual_price": "ten"}, 400, "individual_price"),
        ({"lead_days": -1}, 400, "lead_days"),
        ({"lead_days": "٣"}, 400, "lead_days"),
        ({"after_renewal": "forever"}, 400, "after_renewal"),
    ],
)
def test_bad_terms_are_refused_and_change_nothing(tenants, api, body, status, words):
    answer = api("acme").patch(url(tenants, "o1"), body, format="json")
    assert answer.status_code == status, answer.content
    assert words in answer.json()["error"]["message"]
    assert terms_of(tenants, "o1") == (None, None, "keep", True)
    assert not AuditEvent.objects.filter(action__in=["order.lead_days", "order.auto_renew"]).exists()


def test_the_bound_is_the_order_s_tenure(tenants, api):
    # o2 renews at 12 months: up to 335 days.
    assert api("acme").patch(url(tenants, "o2"), {"lead_days": 335}, format="json").status_code == 200
    answer = api("acme").patch(url(tenants, "o2"), {"lead_days": 336}, format="json")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_lead_days"
    assert terms_of(tenants, "o2")[0] == 335
