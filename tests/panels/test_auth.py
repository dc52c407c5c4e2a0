"""Signing in and out, changing and resetting passwords, and the throttle on
failed sign-ins (logins.throttle), through the pages a user sees."""

import datetime
import logging
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from logins.throttle import (
    ACCOUNT,
    ADDRESS,
    AttemptCounter,
    Refusal,
    attempt_succeeded,
    begin_attempt,
    minutes_left,
    normalise_username,
    over_limit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

LOGIN = "/accounts/login/"
WRONG = "not-the-password"
NEW_PASSWORD = "Correct-horse-battery-9"
ACCOUNT_REFUSED = "Too many failed sign-ins for this account"
ADDRESS_REFUSED = "Too many failed sign-ins from your network address"
BAD_CREDENTIALS = "Please enter a correct username and password"


def sign_in(client, username, password, address="10.0.0.1", **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra}, REMOTE_ADDR=address)


def signed_in_as(client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id).username if user_id else None


def fail(username, times, address="10.0.0.1"):
    for _ in range(times):
        response = sign_in(Client(), username, WRONG, address)
        assert response.status_code == 200
        assert BAD_CREDENTIALS in response.content.decode()


# --- Signing in and out ---


@pytest.mark.parametrize(("username", "panel"), [("owner", "/orders/"), ("acme", "/reseller/")])
def test_the_right_password_signs_in_and_lands_on_the_users_panel(client, tenants, username, panel):
    # when
    response = sign_in(client, username, "pw")

    # then: to the home page, which sends each kind of user to their panel
    assert response.status_code == 302
    assert response.url == "/"
    assert client.get("/").url == panel
    assert signed_in_as(client) == username


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client, tenants):
    assert sign_in(client, "owner", "pw", next="/invoices/").url == "/invoices/"
    assert sign_in(Client(), "owner", "pw", next="https://evil.test/").url == "/"


def test_the_sign_in_page_offers_a_reset_and_keeps_where_to_go_next(client, db):
    # when
    page = client.get(LOGIN, {"next": "/invoices/"}).content.decode()

    # then
    assert f'href="{reverse("password_reset")}"' in page
    assert "Forgot your password?" in page
    assert 'name="next" value="/invoices/"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<label for="id_username">' in page
    assert '<label for="id_password">' in page


def test_a_wrong_password_shows_the_error_and_does_not_sign_in(client, tenants):
    # when
    response = sign_in(client, "owner", WRONG)

    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="callout bad"' in page
    assert BAD_CREDENTIALS in page
    assert signed_in_as(client) is None
    assert client.get("/").url == LOGIN


def test_sign_out_takes_a_post_and_ends_the_session(client, tenants):
    # given
    sign_in(client, "owner", "pw")

    # when: a link (GET) cannot sign anyone out
    assert client.get("/accounts/logout/").status_code == 405
    assert signed_in_as(client) == "owner"

    # when: the Sign out button (POST)
    response = client.post("/accounts/logout/")

    # then
    assert response.status_code == 302
    assert response.url == LOGIN
    assert signed_in_as(client) is None
    assert client.get("/orders/").url.startswith(LOGIN)


# --- The throttle ---


def test_the_sixth_attempt_for_an_account_is_refused_even_with_the_right_password(client, tenants):
    # given: five wrong passwords for one account, from different addresses and in any case
    for n, username in enumerate(["owner", "Owner", "OWNER", " owner", "owner"]):
        fail(username, 1, address=f"10.0.1.{n}")

    # when
    response = sign_in(client, "owner", "pw", address="10.0.2.1")

    # then: refused, politely, without signing in
    assert response.status_code == 429
    page = response.content.decode()
    assert ACCOUNT_REFUSED in page
    assert "Try again in 15 minutes" in page
    assert BAD_CREDENTIALS not in page  # the password was not even checked
    assert signed_in_as(client) is None

    # and: another account from another address is unaffected
    other = Client()
    assert sign_in(other, "colleague", "pw", address="10.0.3.1").status_code == 302
    assert signed_in_as(other) == "colleague"


def test_the_address_limit_refuses_other_usernames_from_that_address(client, tenants, settings):
    # given: three failures from one address, each for a different username
    settings.LOGIN_FAILURE_LIMIT_ADDRESS = 3
    for username in ["owner", "nobody", "west"]:
        fail(username, 1, address="192.0.2.7")

    # when: a fourth username, with its right password, from that address
    response = sign_in(client, "colleague", "pw", address="192.0.2.7")

    # then
    assert response.status_code == 429
    assert ADDRESS_REFUSED in response.content.decode()
    assert signed_in_as(client) is None

    # and: the same login from elsewhere is fine
    assert sign_in(client, "colleague", "pw", address="192.0.2.8").status_code == 302


def test_refusals_for_a_busy_address_do_not_lock_the_account(client, tenants, settings):
    # given: an address over its limit
    settings.LOGIN_FAILURE_LIMIT_ADDRESS = 1
    fail("nobody", 1, address="192.0.2.7")

    # when: someone keeps trying an account from there, more often than the account limit
    for _ in range(7):
        assert sign_in(Client(), "owner", "pw", address="192.0.2.7").status_code == 429

    # then: the account itself never had a password refused, so it signs in elsewhere
    assert sign_in(client, "owner", "pw", address="192.0.2.8").status_code == 302


def test_sign_in_works_again_once_the_window_has_passed(client, tenants, settings):
    # Redis (the CI's PostgreSQL run) expires keys on its own clock, which
    # time_machine cannot move: this one test keeps its counts in memory.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC), tick=False) as clock:
        # given: a locked account
        fail("owner", 5)
        clock.shift(datetime.timedelta(minutes=10))

        # then: the message counts down
        response = sign_in(client, "owner", "pw")
        assert response.status_code == 429
        assert "Try again in 5 minutes" in response.content.decode()

        # when: the window (15 minutes from the first failure) is over
        clock.shift(datetime.timedelta(minutes=5, seconds=1))

        # then
        assert sign_in(client, "owner", "pw").status_code == 302
        assert signed_in_as(client) == "owner"


def test_a_successful_sign_in_starts_the_account_count_afresh(tenants):
    # given: four failures, then the right password
    fail("owner", 4)
    assert sign_in(Client(), "owner", "pw").status_code == 302

    # when: four more failures (eight in the window, but only four since the success)
    fail("owner", 4)

    # then
    assert sign_in(Client(), "owner", "pw").status_code == 302


def test_each_refusal_is_logged(client, tenants, caplog):
    # given
    fail("owner", 5)

    # when
    with caplog.at_level(logging.WARNING, logger="panels.auth"):
        sign_in(client, "owner", "pw", address="10.9.9.9")

    # then
    [record] = [r for r in caplog.records if r.name == "panels.auth"]
    assert record.levelno == logging.WARNING
    assert "account limit" in record.getMessage()
    assert "'owner'" in record.getMessage()
    assert "10.9.9.9" in record.getMessage()


# --- The counting itself ---


def test_parallel_attempts_are_counted_before_their_passwords_are_checked(settings):
    # given: six attempts begun before any has its outcome (a burst of parallel guesses)
    outcomes = [begin_attempt("owner", f"10.0.0.{n}") for n in range(6)]

    # then: only five get their password checked
    assert outcomes[:5] == [None] * 5
    assert outcomes[5] == Refusal(ACCOUNT, 15)


def test_a_success_gives_the_address_back_its_attempt(settings):
    # given: an office behind one address whose people all sign in fine
    settings.LOGIN_FAILURE_LIMIT_ADDRESS = 2
    for n in range(10):
        assert begin_attempt(f"person{n}", "198.51.100.1") is None
        attempt_succeeded(f"person{n}", "198.51.100.1")

    # then: the address has no failures to hold against anyone
    assert begin_attempt("late", "198.51.100.1") is None


@pytest.mark.parametrize(
    ("count", "limit", "refused"),
    [(1, 5, False), (5, 5, False), (6, 5, True), (21, 20, True)],
)
def test_over_limit_lets_the_limit_th_attempt_through(count, limit, refused):
    assert over_limit(count, limit) is refused


@pytest.mark.parametrize(
    ("ends_in", "minutes"),
    [(900, 15), (899, 15), (841, 15), (840, 14), (61, 2), (60, 1), (0.5, 1), (-3, 1), (None, 15)],
)
def test_minutes_left_rounds_up_and_never_says_zero(ends_in, minutes):
    now = 1_000_000.0
    assert minutes_left(None if ends_in is None else now + ends_in, now, 900) == minutes


def test_refusal_messages_say_what_and_what_to_do():
    assert Refusal(ACCOUNT, 1).message == (
        "Too many failed sign-ins for this account. Try again in 1 minute. "
        "If you have forgotten your password, reset it in the meantime."
    )
    assert Refusal(ADDRESS, 12).message.startswith(
        "Too many failed sign-ins from your network address. Try again in 12 minutes"
    )


def test_usernames_count_case_insensitively():
    assert normalise_username(" Owner ") == normalise_username("OWNER") == "owner"


def test_the_counter_window_opens_at_the_first_attempt():
    # given: a counter with a clock of its own (the cache still expires by real time)
    now = [1_000.0]
    counter = AttemptCounter(clock=lambda: now[0])

    # when
    assert counter.take("k", limit=2, window=600) is None
    now[0] += 300
    assert counter.take("k", limit=2, window=600) is None

    # then: the third is refused, with the minutes left of the window opened by the first
    assert counter.take("k", limit=2, window=600) == 5

    # and: giving one back lets one more through; clearing lets all through
    counter.give_back("k")
    assert counter.take("k", limit=2, window=600) is None
    counter.clear("k")
    assert counter.take("k", limit=2, window=600) is None


# --- Changing the password ---


def test_changing_the_password_needs_the_old_one_and_then_the_new_one_signs_in(client, tenants):
    # given
    sign_in(client, "owner", "pw")
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert 'name="old_password"' in page.content.decode()

    # when: the old password is wrong
    response = client.post(
        reverse("password_change"),
        {"old_password": WRONG, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    # then: nothing changes, and the form says why
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    assert sign_in(Client(), "owner", "pw").status_code == 302

    # when: the old password is right
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    # then: still signed in here, and only the new password works
    assert response.url == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200
    assert signed_in_as(client) == "owner"
    assert sign_in(Client(), "owner", NEW_PASSWORD).status_code == 302
    assert sign_in(Client(), "owner", "pw").status_code == 200


def test_changing_the_password_needs_a_signed_in_user(client, db):
    response = client.get(reverse("password_change"))

    assert response.status_code == 302
    assert response.url.startswith(f"{LOGIN}?next=")


# --- Resetting the password ---


@pytest.fixture
def owner_with_email(tenants):
    user = tenants.users["owner"]
    user.email = "jane@example.test"
    user.save(update_fields=["email"])
    return user


def test_a_password_reset_mails_one_link_that_sets_a_new_password(client, owner_with_email, mailoutbox):
    # when
    response = client.post(reverse("password_reset"), {"email": "Jane@Example.test"})

    # then: one email, to the login's address, with a link
    assert response.url == reverse("password_reset_done")
    [mail] = mailoutbox
    assert mail.to == ["jane@example.test"]
    assert mail.subject == "Reset your control panel password"
    assert '"owner"' in mail.body
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body).group(1)

    # when: the link is opened (Django moves the token out of the address) and a password chosen
    form = client.get(link, follow=True)
    assert 'name="new_password1"' in form.content.decode()
    set_password_url = form.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    # then: only the new password signs in
    assert response.url == reverse("password_reset_complete")
    assert sign_in(Client(), "owner", NEW_PASSWORD).status_code == 302
    assert sign_in(Client(), "owner", "pw").status_code == 200

    # and: the link works once
    again = Client().get(link, follow=True).content.decode()
    assert "This link no longer works" in again
    assert 'name="new_password1"' not in again


def test_a_reset_for_an_unknown_address_looks_the_same_as_for_a_known_one(owner_with_email, mailoutbox):
    # when
    known = Client().post(reverse("password_reset"), {"email": "jane@example.test"}, follow=True)
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@example.test"}, follow=True)

    # then: the same page, word for word; only the known address gets mail
    assert known.redirect_chain == unknown.redirect_chain == [(reverse("password_reset_done"), 302)]
    assert known.content == unknown.content
    assert [m.to for m in mailoutbox] == [["jane@example.test"]]


# --- CSRF ---


def test_signing_in_without_a_csrf_token_is_refused(tenants):
    # given: a client that checks CSRF the way a browser session does
    client = Client(enforce_csrf_checks=True)

    # when / then: posting without the form's token
    assert client.post(LOGIN, {"username": "owner", "password": "pw"}).status_code == 403

    # and: the sign-in page carries the token that makes it work
    page = client.get(LOGIN).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(LOGIN, {"username": "owner", "password": "pw", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
