"""The standing renewal day (SPEC "Standing renewal day") through its service
(balances.services.account_update, audited) and the API (GET and PATCH
/api/balance/): 1-31 or null, anything else a 400 naming the field that
changes nothing; a customer sets its own account's only."""

import pytest

from audit.models import AuditEvent
from balances.models import Account
from balances.services import account_update
from core.errors import DomainError, NotFound
from tenants.scope import actor_for_user

pytestmark = pytest.mark.django_db


def day_of(tenants, ref: str = "c1"):
    return Account.objects.get(pk=tenants.customers[ref].pk).renewal_day


def test_the_service_sets_and_clears_it_audited(tenants):
    owner = actor_for_user(tenants.users["owner"])
    c1 = tenants.customers["c1"].pk
    assert account_update(actor=owner, account_id=c1, renewal_day=15) == ["renewal_day"]
    assert account_update(actor=owner, account_id=c1, renewal_day=None) == ["renewal_day"]
    audit = list(AuditEvent.objects.filter(action="account.renewal_day").order_by("pk").values_list("before", "after"))
    assert audit == [(None, 15), (15, None)]


@pytest.mark.parametrize("day", [0, 32, -1, True, "15", 1.5])
def test_the_service_refuses_what_is_not_a_day_of_the_month(tenants, day):
    with pytest.raises(DomainError, match="the renewal day must be a day of the month"):
        account_update(actor=actor_for_user(tenants.users["owner"]), account_id=tenants.customers["c1"].pk,
                       renewal_day=day)  # fmt: skip
    assert day_of(tenants) is None


def test_the_reseller_sets_its_customers_and_an_outsider_cannot(tenants):
    c1 = tenants.customers["c1"].pk
    account_update(actor=actor_for_user(tenants.users["acme"]), account_id=c1, renewal_day=3)
    assert day_of(tenants) == 3
    for user in ("outsider", "other", "west"):
        with pytest.raises(NotFound):
            account_update(actor=actor_for_user(tenants.users[user]), account_id=c1, renewal_day=9)
    assert day_of(tenants) == 3


def test_the_api_reads_and_changes_it(tenants, api):
    owner = api("owner")
    assert owner.get("/api/balance/").json()["renewal_day"] is None
    body = owner.patch("/api/balance/", {"renewal_day": 28}, format="json").json()
    assert (body["renewal_day"], body["auto_renew"]) == (28, True)
    assert api("colleague").get("/api/balance/").json()["renewal_day"] == 28
    # both at once, one audited change each
    body = owner.patch("/api/balance/", {"renewal_day": None, "auto_renew": False}, format="json").json()
    assert (body["renewal_day"], body["auto_renew"]) == (None, False)
    assert AuditEvent.objects.filter(action="account.renewal_day").count() == 2
    assert day_of(tenants, "c9") is None  # the outsider's account is its own


@pytest.mark.parametrize("day", [0, 32, "soon", "٣", 2.5])
def test_a_bad_day_is_a_400_naming_the_field_and_changes_nothing(tenants, api, day):
    response = api("owner").patch("/api/balance/", {"renewal_day": day}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["renewal_day"]
    assert day_of(tenants) is None


def test_a_reseller_token_has_no_account_to_patch(tenants, api):
    response = api("acme").patch("/api/balance/", {"renewal_day": 5}, format="json")
    assert response.status_code == 403
    assert day_of(tenants) is None
