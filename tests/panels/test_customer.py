"""The customer panel through Django's test client: every page, every action,
tenant isolation with three users (owner, colleague, outsider)."""

import pytest
from django.urls import reverse

from balances.models import Account, LedgerEntry
from invoices.models import Invoice
from notifications.models import Notice
from orders.models import Order
from tests.helpers import renewal_form, top_up_form

PAGES = ["orders", "renewals", "balance", "invoices", "messages", "settings", "cards"]


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_for_the_owner_and_the_colleague(client, tenants, name):
    for user in ("owner", "colleague"):
        client.force_login(tenants.users[user])
        response = client.get(reverse(name))
        assert response.status_code == 200, (user, name)
        assert "Acme Hosting" in response.content.decode()  # white label: the reseller's name


@pytest.mark.django_db
def test_the_orders_list_shows_paid_thru_days_remaining_and_marks_what_expires(owner, tenants):
    page = owner.get(reverse("orders")).content.decode()
    assert ">o1</a>" in page
    assert ">o2</a>" in page
    assert ">o3</a>" in page
    assert ">o9</a>" not in page
    assert ">o4</a>" not in page
    assert str(tenants.days(5)) in page
    assert 'class="expiring"' in page


@pytest.mark.django_db
def test_an_outsider_gets_404_for_every_page_with_an_id_and_changes_nothing(client, tenants):
    o1 = tenants.orders["o1"]
    client.force_login(tenants.users["owner"])
    client.post(reverse("renew"), {**renewal_form(client, {"order": [o1.pk], f"months_{o1.pk}": "1"}), "action": "pay"})
    invoice = Invoice.objects.get()
    notice = Notice.objects.filter(customer=tenants.customers["c1"]).first()
    before = (list(Order.objects.values_list("pk", "auto_renew", "expires_on")), Invoice.objects.count())
    client.force_login(tenants.users["outsider"])
    assert client.get(reverse("order-detail", args=[o1.pk])).status_code == 404
    assert (
        client.post(reverse("order-detail", args=[o1.pk]), {"field": "auto_renew", "value": "off"}).status_code == 404
    )
    assert client.get(reverse("invoice-detail", args=[invoice.pk])).status_code == 404
    assert client.get(reverse("message-detail", args=[notice.pk])).status_code == 404
    assert client.get(reverse("renew"), {"order": [o1.pk]}).status_code == 404
    assert (list(Order.objects.values_list("pk", "auto_renew", "expires_on")), Invoice.objects.count()) == before
    assert Notice.objects.get(pk=notice.pk).read_at is None


@pytest.mark.django_db
def test_panels_need_a_customer_login(client, tenants):
    assert client.get(reverse("orders")).status_code == 302
    client.force_login(tenants.users["acme"])  # reseller staff
    assert client.get(reverse("orders")).status_code == 404


@pytest.mark.django_db
def test_batch_renewal_of_three_orders_with_three_periods_paid_from_the_balance(owner, tenants):
    o1, o2, o3 = (tenants.orders[ref] for ref in ("o1", "o2", "o3"))
    form = {"order": [o1.pk, o2.pk, o3.pk], f"months_{o1.pk}": "3", f"months_{o2.pk}": "1", f"months_{o3.pk}": "12"}
    page = owner.get(reverse("renew"), form).content.decode()
    assert "52.00 USD" in page  # 27.00 + 10.00 + 15.00
    response = owner.post(
        reverse("renew"),
        {**renewal_form(owner, form), "payment": "balance", f"auto_renew_{o3.pk}": "on", "action": "pay"},
        follow=True,
    )
    invoice = Invoice.objects.get()
    assert response.redirect_chain[-1][0] == reverse("invoice-detail", args=[invoice.pk])
    assert f"Renewed 3 orders: 52.00 USD paid, invoice {invoice.number}." in response.content.decode()
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 48
    renewed = {o.ref: o for o in Order.objects.filter(customer=tenants.customers["c1"])}
    assert renewed["o3"].auto_renew  # switched on from the next cycle
    assert renewed["o1"].expires_on > o1.expires_on
    assert renewed["o3"].expires_on > o3.expires_on


@pytest.mark.django_db
def test_a_foreign_order_hidden_in_a_batch_rejects_the_whole_batch(owner, tenants):
    o1, o9 = tenants.orders["o1"], tenants.orders["o9"]
    data = {
        "order": [o1.pk, o9.pk],
        f"pin_{o1.pk}": o1.expires_on.isoformat(),
        f"pin_{o9.pk}": o9.expires_on.isoformat(),
        "action": "pay",
    }
    assert owner.post(reverse("renew"), data).status_code == 404
    assert not Invoice.objects.exists()
    assert set(Order.objects.values_list("expires_on", flat=True)) == {o.expires_on for o in tenants.orders.values()}


@pytest.mark.django_db
def test_a_renewal_the_balance_cannot_pay_says_so_and_changes_nothing(owner, tenants):
    o2 = tenants.orders["o2"]
    entries = LedgerEntry.objects.count()
    data = {**renewal_form(owner, {"order": [o2.pk], f"months_{o2.pk}": "12"}), "action": "pay"}
    page = owner.post(reverse("renew"), {**data, "payment": "balance"}, follow=True).content.decode()
    assert "The renewal costs 100.00 USD but only 100.00 is available" not in page  # it is affordable: 100.00
    o1 = tenants.orders["o1"]
    data = {
        **renewal_form(owner, {"order": [o1.pk, o2.pk], f"months_{o1.pk}": "12", f"months_{o2.pk}": "12"}),
        "action": "pay",
    }
    page = owner.post(reverse("renew"), data, follow=True).content.decode()
    assert "top up and try again" in page
    assert LedgerEntry.objects.count() == entries + 1  # only the first, affordable renewal


@pytest.mark.django_db
def test_the_auto_renew_switch_toggles_and_a_locked_one_cannot_be_flipped_by_posting(owner, tenants):
    o1 = tenants.orders["o1"]
    response = owner.post(reverse("order-detail", args=[o1.pk]), {"field": "auto_renew", "value": "off"}, follow=True)
    assert "Auto-renew is now off." in response.content.decode()
    assert not Order.objects.get(pk=o1.pk).auto_renew
    Order.objects.filter(pk=o1.pk).update(auto_renew_locked=True)
    page = owner.get(reverse("order-detail", args=[o1.pk])).content.decode()
    assert "Your provider has locked this switch" in page
    assert 'id="toggle-auto-renew"' not in page
    response = owner.post(reverse("order-detail", args=[o1.pk]), {"field": "auto_renew", "value": "on"}, follow=True)
    assert "your reseller locked the auto-renew switch" in response.content.decode()
    assert not Order.objects.get(pk=o1.pk).auto_renew
    response = owner.post(reverse("order-detail", args=[o1.pk]), {"field": "locked", "value": "off"}, follow=True)
    assert "There is no setting &#x27;locked&#x27; to change." in response.content.decode()


@pytest.mark.django_db
def test_why_wont_this_renew_in_plain_words(owner, tenants):
    page = owner.get(reverse("order-detail", args=[tenants.orders["o3"].pk])).content.decode()
    assert "Auto-renew is switched off for this order." in page  # the first reason (SPEC's precedence)
    # and its switch cannot help: the certificate category never renews by itself
    assert "This kind of service cannot renew automatically" in page
    assert 'id="toggle-auto-renew"' not in page


@pytest.mark.django_db
def test_the_renewal_center_tabs(owner, tenants):
    manual = owner.get(reverse("renewals"), {"tab": "manual"}).content.decode()
    assert ">o3</a>" in manual
    assert ">o1</a>" not in manual
    auto = owner.get(reverse("renewals"), {"tab": "auto"}).content.decode()
    assert ">o1</a>" in auto
    assert ">o2</a>" in auto
    assert "covered" in auto
    Order.objects.filter(pk=tenants.orders["o2"].pk).update(do_not_renew=True)
    assert ">o2</a>" in owner.get(reverse("renewals"), {"tab": "cancelled"}).content.decode()
    Order.objects.filter(pk=tenants.orders["o1"].pk).update(status="suspended", expires_on=tenants.days(-2))
    grace = owner.get(reverse("renewals"), {"tab": "grace"}).content.decode()
    assert str(tenants.days(-2 + 15 + 1)) in grace  # hosting: 15 days of grace


@pytest.mark.django_db
def test_messages_list_and_reading_one_marks_it_read(owner, tenants):
    o1 = tenants.orders["o1"]
    owner.post(reverse("renew"), {**renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"}), "action": "pay"})
    listing = owner.get(reverse("messages")).content.decode()
    assert "Renewal paid: 10.00 USD for 1 order" in listing
    notice = Notice.objects.filter(kind="renewal_succeeded").get()
    page = owner.get(reverse("message-detail", args=[notice.pk])).content.decode()
    assert "We paid the renewal, 10.00 USD, from your balance." in page
    assert Notice.objects.get(pk=notice.pk).read_at is not None


@pytest.mark.django_db
def test_the_master_switch_and_the_invoice_pages(owner, tenants):
    response = owner.post(reverse("settings"), {"auto_renew": "off"}, follow=True)
    assert "Auto-renew is now off for your whole account." in response.content.decode()
    assert not Account.objects.get(pk=tenants.customers["c1"].pk).auto_renew
    o1 = tenants.orders["o1"]
    owner.post(reverse("renew"), {**renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"}), "action": "pay"})
    invoice = Invoice.objects.get()
    assert invoice.number in owner.get(reverse("invoices")).content.decode()
    printable = owner.get(reverse("invoice-detail", args=[invoice.pk]), {"print": "1"}).content.decode()
    assert "Total paid" in printable
    assert "10.00 USD" in printable
    balance = owner.get(reverse("balance")).content.decode()
    assert "90.00 USD" in balance
    assert "Manual renewal" in balance


@pytest.mark.django_db
def test_the_orders_list_runs_the_same_queries_for_10_and_1000_orders(owner, tenants, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(n):
        have = Order.objects.filter(customer=tenants.customers["c1"]).count()
        template = tenants.orders["o1"]
        Order.objects.bulk_create(
            [
                Order(ref=f"x{have + i}", customer=template.customer, plan=template.plan, tenure_months=1,
                      expires_on=tenants.days(10 + i % 300), auto_renew=True)
                for i in range(n - have)
            ]
        )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            assert owner.get(reverse("orders"), {"sort": "-paid_thru"}).status_code == 200
        return len(queries)

    # session, user, membership, brand, unread messages, categories, page count, the page of orders
    assert count(10) == count(1000)


@pytest.mark.django_db
def test_sorting_and_filters_keep_each_other(owner, tenants):
    page = owner.get(reverse("orders"), {"status": "active", "sort": "paid_thru"}).content.decode()
    assert 'href="?status=active&amp;sort=-paid_thru"' in page  # the same header reverses the order
    assert 'href="?status=active&amp;sort=ref"' in page
    page = owner.get(reverse("orders"), {"expiring_within": "10"}).content.decode()
    assert ">o1</a>" in page
    assert ">o2</a>" not in page  # expires in 20 days
    page = owner.get(reverse("orders"), {"expiring_within": "lots"}).content.decode()
    assert "Enter a number of days from 0 to 3650." in page


def _save_card(tenants, number):
    from payments.services import card_add, card_set_default
    from tenants.scope import Actor, ActorKind
    from tests.payments.test_cards import tokenise

    customer = tenants.customers["c1"]
    actor = Actor(kind=ActorKind.CUSTOMER, label="owner", customer_id=customer.pk)
    card = card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(number))
    return card_set_default(actor=actor, card_id=card.pk)


@pytest.mark.django_db
def test_top_up_by_card_from_the_balance_page(owner, tenants, stripe_on):
    from tests.payments.test_cards import DECLINES_AT_CHARGE, GOOD

    _save_card(tenants, GOOD)
    response = owner.post(reverse("balance"), top_up_form(owner, "25.00"), follow=True)
    assert "Added 25.00 USD to your balance." in response.content.decode()
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 125
    assert "Card top-up" in response.content.decode()  # in the history
    _save_card(tenants, DECLINES_AT_CHARGE)  # the default card from now on
    response = owner.post(reverse("balance"), top_up_form(owner, "5.00"), follow=True)
    assert "The card was not charged" in response.content.decode()
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 125
    response = owner.post(reverse("balance"), top_up_form(owner, "-5"), follow=True)
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 125


@pytest.mark.django_db
def test_a_batch_paid_by_card_and_a_declined_card_that_changes_nothing(owner, tenants, stripe_on):
    from tests.payments.test_cards import DECLINES_AT_CHARGE, GOOD

    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    _save_card(tenants, DECLINES_AT_CHARGE)
    choices = {"order": [o1.pk, o2.pk], f"months_{o2.pk}": "12", "payment": "card", "action": "pay"}
    page = owner.post(reverse("renew"), renewal_form(owner, choices), follow=True).content.decode()
    assert "declined" in page.lower()
    assert not Invoice.objects.exists()
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 100
    _save_card(tenants, GOOD)
    response = owner.post(reverse("renew"), renewal_form(owner, choices), follow=True)
    invoice = Invoice.objects.get()
    assert f"Renewed 2 orders: 110.00 USD paid, invoice {invoice.number}." in response.content.decode()
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 100  # the card paid it all


@pytest.mark.django_db
def test_the_messages_list_runs_the_same_queries_for_few_and_many_unsent_notices(owner, tenants):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from renewals.manual import renewal_pay, renewal_quote
    from tenants.scope import Actor, ActorKind

    actor = Actor(kind=ActorKind.CUSTOMER, label="owner", customer_id=tenants.customers["c1"].pk)
    o1 = tenants.orders["o1"]

    def count(renewals):
        for _ in range(renewals):  # two notices each, rendered from their invoice until delivered
            renewal_pay(actor=actor, quote=renewal_quote(actor=actor, items=[(o1.pk, 1)]))
        with CaptureQueriesContext(connection) as queries:
            assert owner.get(reverse("messages")).status_code == 200
        return len(queries)

    assert count(1) == count(8)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("choices", "said"),
    [
        ({}, "Tick at least one order to renew."),
        ({"order": ["x"]}, "An order number must be a whole number written with the digits 0-9, not 'x'."),
        ({"order": ["o1"], "align_day": "32"}, "The renewal day must be from 1 to 31, not 32 (a day of the month)."),
        ({"order": ["o1"], "months_o1": "0"}, "The period in months must be from 1 to 120, not 0."),
    ],
)
def test_the_renewal_form_sends_bad_choices_back_to_the_orders_with_why(owner, tenants, choices, said):
    o1 = str(tenants.orders["o1"].pk)
    query = {key.replace("o1", o1): [o1 if v == "o1" else v for v in value] if isinstance(value, list) else value
             for key, value in choices.items()}  # fmt: skip

    response = owner.get(reverse("renew"), query, follow=True)

    assert response.redirect_chain == [(reverse("orders"), 302)]
    assert said in [str(message) for message in response.context["messages"]]


@pytest.mark.django_db
def test_the_renewal_page_says_when_the_balance_does_not_cover_the_quote(owner, tenants):
    # c1 has 100.00: o1 for 12 months (100.00) is covered, o1 + o2 for 12 months each is not
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    covered = owner.get(reverse("renew"), {"order": [o1.pk], f"months_{o1.pk}": "12"})
    short = owner.get(reverse("renew"), {"order": [o1.pk, o2.pk], f"months_{o1.pk}": "12", f"months_{o2.pk}": "12"})

    assert (covered.context["short"], short.context["short"]) == (False, True)
    assert "Your balance does not cover this renewal." in short.content.decode()
    assert "Your balance does not cover this renewal." not in covered.content.decode()


@pytest.mark.django_db
def test_a_damaged_quote_in_the_pay_form_charges_nothing_and_says_the_form_expired(owner, tenants):
    o1 = tenants.orders["o1"]
    form = renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"})
    entries = LedgerEntry.objects.count()

    for damaged in ({f"pin_{o1.pk}": "yesterday"}, {"expected_total": "ten"}, {"form_token": "form-x"}):
        page = owner.post(reverse("renew"), {**form, **damaged, "action": "pay"}).content.decode()
        assert "This form has expired and nothing was charged" in page, damaged

    assert LedgerEntry.objects.count() == entries
