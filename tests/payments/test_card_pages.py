"""The saved-cards pages: server side with Django's client, the add-card page
(Stripe.js) in a real headless Chromium against localstripe."""

import pytest
from django.urls import reverse

from payments.models import Card
from payments.services import card_add
from tenants.scope import Actor, ActorKind
from tests.factories import CustomerFactory, member
from tests.payments.test_cards import GOOD, tokenise


@pytest.fixture
def owner(stripe_on):
    customer = CustomerFactory(email="owner@example.test")
    user = member(customer=customer, username="owner", password="pw")
    return customer, user


@pytest.mark.django_db
def test_cards_page_lists_and_manages_only_ones_own_cards(client, owner):
    customer, user = owner
    actor = Actor(kind=ActorKind.CUSTOMER, label="owner", customer_id=customer.pk)
    mine = card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    other = CustomerFactory()
    theirs = card_add(
        actor=Actor(kind=ActorKind.CUSTOMER, label="x", customer_id=other.pk),
        account_id=other.pk,
        payment_method_id=tokenise(GOOD),
    )
    colleague = member(customer=customer, username="colleague", password="pw")
    outsider = member(customer=other, username="outsider", password="pw")
    client.force_login(colleague)
    page = client.get(reverse("cards")).content.decode()
    assert "visa •••• 4242 (default)" in page
    client.force_login(outsider)
    response = client.post(reverse("cards"), {"action": "remove", "card": mine.pk}, follow=True)
    assert f"card {mine.pk} not found" in response.content.decode()
    assert Card.objects.filter(pk=mine.pk).exists()
    client.force_login(user)
    client.post(reverse("cards"), {"action": "remove", "card": mine.pk})
    assert not Card.objects.filter(pk=mine.pk).exists()
    assert Card.objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
def test_pages_need_a_customer_login(client, owner):
    assert client.get(reverse("cards")).status_code == 302  # to the sign-in page
    staff = member(reseller=owner[0].reseller, username="staff", password="pw")
    client.force_login(staff)
    assert client.get(reverse("cards")).status_code == 404


@pytest.mark.django_db
def test_without_stripe_the_pages_say_so(client, settings, owner):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(owner[1])
    response = client.get(reverse("card-add"), follow=True)
    assert "Card payments are not configured on this portal." in response.content.decode()


@pytest.mark.django_db
def test_a_forged_setup_intent_is_refused(client, owner):
    client.force_login(owner[1])
    response = client.post(reverse("card-add"), {"setup_intent": "seti_forged"}, follow=True)
    assert "that card setup is unknown; try again" in response.content.decode()
    assert not Card.objects.exists()


def sign_in(page, base: str) -> None:
    page.goto(f"{base}{reverse('login')}")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")


def type_card(page, number: str) -> None:
    origin = "/".join(page.url.split("/", 3)[:3])  # scheme://host:port of the live server
    page.goto(origin + reverse("card-add"))
    page.fill("#card-element input[placeholder=number]", number)
    page.fill("#card-element input[placeholder=exp_month]", "12")
    page.fill("#card-element input[placeholder=exp_year]", "31")
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "10115")
    page.click("#save-card")


@pytest.mark.django_db(transaction=True)
def test_adding_a_card_in_the_browser_with_stripe_js(live_server, browser, owner, settings, stripe_on):
    settings.STRIPE_JS_URL = f"{stripe_on}/js.stripe.com/v3/"
    page = browser.new_page()
    sign_in(page, live_server.url)
    type_card(page, GOOD)
    page.wait_for_url(f"{live_server.url}{reverse('cards')}")
    assert "Saved visa •••• 4242." in page.content()
    card = Card.objects.get()
    assert (card.last4, card.is_default) == ("4242", True)
    # A card Stripe refuses: the decline text, nothing saved.
    type_card(page, "4000000000000002")
    page.wait_for_selector("#card-errors:not(:empty)")
    assert "declined" in page.inner_text("#card-errors").lower()
    assert Card.objects.count() == 1
