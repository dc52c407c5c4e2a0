"""Where a retry policy is set (docs/dunning.md): the reseller panel's
"Retry policy" page (for itself and each sub-reseller), the customer page's
exemption, the admin, all checked by one rule and audited; an outsider
gets 404 and changes nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit.models import AuditEvent
from tenants.admin import ResellerForm
from tenants.models import Customer, Reseller
from tests.panels.conftest import tenants  # noqa: F401 - the panels' three tenants and their logins


def policy(ref: str) -> tuple:
    r = Reseller.objects.get(ref=ref)
    return r.retry_own, r.retry_days, r.last_chance_day


def post_policy(client, reseller: Reseller, **fields):
    data = {"reseller": str(reseller.pk), "name": reseller.name, **fields}
    return client.post(reverse("reseller-retry-policy"), data, follow=True)


def login(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))


@pytest.mark.django_db
def test_a_reseller_sets_its_own_policy_and_a_sub_resellers_and_both_are_audited(tenants, client):  # noqa: F811
    login(client, "acme")
    page = post_policy(client, tenants.resellers["acme"], mode="days", days="0,3, 7,1", last_chance_day="1")
    assert "the retry policy is saved" in page.content.decode()
    assert policy("acme") == (True, [7, 3, 1, 0], 1)
    post_policy(client, tenants.resellers["west"], mode="every_night", last_chance_day="2")
    assert policy("west") == (True, None, 2)
    # The page says what each gets and from where
    text = client.get(reverse("reseller-retry-policy")).content.decode()
    assert "The window&#x27;s first night, then 7, 3, 1 and 0 days before expiry; last chance 1 day before" in text
    assert "Every night of the attempt window; last chance 2 days before" in text
    # Back to inheriting
    post_policy(client, tenants.resellers["west"], mode="inherit")
    assert policy("west") == (False, None, 0)
    assert "inherited from Acme Hosting" in client.get(reverse("reseller-retry-policy")).content.decode()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"reseller.retry_own", "reseller.retry_days", "reseller.last_chance_day"} <= actions


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "days", "days": "7,x"}, "&#x27;x&#x27; is not a whole number of days"),
        ({"mode": "days", "days": "3,3"}, "names a day twice"),
        ({"mode": "days", "days": ""}, "give the days before expiry"),
        ({"mode": "days", "days": "400"}, "from 0 to 366"),
        ({"mode": "days", "days": "7", "last_chance_day": "-1"}, "the last-chance day must be a whole number"),
        ({"mode": "sometimes"}, "That choice is not known here"),
    ],
)
def test_bad_input_says_what_and_changes_nothing(tenants, client, fields, message):  # noqa: F811
    login(client, "acme")
    page = post_policy(client, tenants.resellers["acme"], **fields)
    assert message in page.content.decode()
    assert policy("acme") == (False, None, 0)
    assert not AuditEvent.objects.filter(action__startswith="reseller.retry").exists()


@pytest.mark.django_db
def test_a_sub_reseller_cannot_set_its_parents_nor_an_outsider_anyones(tenants, client):  # noqa: F811
    login(client, "west")
    assert post_policy(client, tenants.resellers["acme"], mode="every_night").status_code == 404
    login(client, "other")
    assert post_policy(client, tenants.resellers["west"], mode="every_night").status_code == 404
    assert policy("acme") == policy("west") == (False, None, 0)
    # and the page lists only its own subtree
    text = client.get(reverse("reseller-retry-policy")).content.decode()
    assert "Other Hosting" in text
    assert "Acme" not in text


@pytest.mark.django_db
def test_the_customer_page_exempts_a_customer_of_the_subtree_only(tenants, client):  # noqa: F811
    c2 = tenants.customers["c2"]  # west's, below acme
    login(client, "acme")
    client.post(reverse("reseller-customer", args=[c2.pk]), {"action": "exempt"})
    assert Customer.objects.get(pk=c2.pk).retry_exempt
    assert AuditEvent.objects.filter(action="customer.retry_exempt").count() == 1
    login(client, "other")
    response = client.post(reverse("reseller-customer", args=[c2.pk]), {"action": "unexempt"})
    assert response.status_code == 404
    assert Customer.objects.get(pk=c2.pk).retry_exempt


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"retry_own": True, "retry_days": "[3, 3]", "last_chance_day": 0}, "names a day twice"),
        ({"retry_own": True, "retry_days": "[]", "last_chance_day": 0}, "must be null (every night)"),
        ({"retry_own": True, "retry_days": '["7"]', "last_chance_day": 0}, "the day '7'"),
    ],
)
@pytest.mark.django_db
def test_the_admin_form_checks_the_policy_by_the_same_rule(data, error):
    form = ResellerForm(data={"ref": "r9", "name": "R9", "invoice_prefix": "R9", **data})
    assert not form.is_valid()
    assert error in " ".join(form.errors["retry_days"])


@pytest.mark.django_db
def test_the_admin_form_keeps_a_valid_policy_in_order_and_clears_an_inherited_one():
    form = ResellerForm(
        data={"ref": "r9", "name": "R9", "invoice_prefix": "R9", "retry_own": True, "retry_days": "[0, 7, 3]"}
        | {"last_chance_day": 0}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["retry_days"] == [7, 3, 0]
    form = ResellerForm(
        data={"ref": "r9", "name": "R9", "invoice_prefix": "R9", "retry_days": "[5]", "last_chance_day": 4}
    )
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["retry_days"], form.cleaned_data["last_chance_day"]) == (None, 0)
