"""API tokens at rest: only knox's digest of a key is stored, the key works
until it expires (API_TOKEN_TTL_DAYS, no refresh by use), a change of the
login's password revokes it (whichever way it is changed, but not Django's
re-hash of the same password), the clear tokens of rest_framework.authtoken
become digests, and Django admin lists tokens without keys or digests."""

import datetime
import hashlib
import importlib
import re
import time

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.tokens import default_token_generator
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from knox.models import AuthToken, AuthTokenManager
from rest_framework.test import APIClient

from api.authentication import TokenAuthentication
from audit.models import AuditEvent
from logins.services import token_issue
from tenants.models import Membership
from tests.factories import CustomerFactory, UserFactory
from tests.helpers import run_concurrently

pytestmark = pytest.mark.django_db

NOON = datetime.datetime(2026, 3, 2, 12, tzinfo=datetime.UTC)
ORDERS = "/api/orders/"
migration = importlib.import_module("api.migrations.0002_api_tokens_from_authtoken")


@pytest.fixture
def ttl_90_days(settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": datetime.timedelta(days=90)}


@pytest.fixture
def login(db):
    """A customer's login (password "pw") with no orders: enough for the API to answer 200."""
    user = UserFactory(username="jane", password="pw")
    Membership.objects.create(user=user, customer=CustomerFactory())
    return user


def get(key: str, path: str = ORDERS):
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Token {key}")


def refused(response, code: str = "authentication_failed") -> str:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (401, code)
    return error["message"]


def every_stored_value() -> str:
    """Every value of every row of every table, as text (whatever model, if any, owns it)."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - a table name
            for row in cursor.fetchall():
                values.extend(bytes(v).decode("latin-1") if isinstance(v, memoryview | bytes) else str(v) for v in row)
    return "\n".join(values)


# At rest ---------------------------------------------------------------------


def test_a_key_is_stored_nowhere_in_clear_only_its_digest(login):
    anonymous = APIClient()
    response = anonymous.post("/api/auth/token/", {"username": "jane", "password": "pw"}, format="json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = response.json()["token"]
    panel = Client()
    panel.force_login(login)
    panel.post("/account/api-token/", {"action": "revoke"})
    page = panel.post("/account/api-token/", {"action": "create"}).content.decode()
    panel_key = re.search(r'<code id="api-token">([0-9a-f]+)</code>', page).group(1)

    stored = every_stored_value()
    token = AuthToken.objects.get(user=login)
    assert token.digest == hashlib.sha512(panel_key.encode()).hexdigest()
    assert token.digest in stored  # the scan does see the token's table
    for clear in (key, panel_key):
        assert len(clear) == 64
        assert clear not in stored
        assert clear[:16] not in stored  # knox keeps its first 15 characters to find the row, no more


def test_the_key_works_a_wrong_one_or_a_replaced_one_does_not(login):
    key = token_issue(user=login)
    assert get(key).status_code == 200
    wrong = key[:15] + ("0" if key[15] != "0" else "1") + key[16:]  # the same stored prefix, another key
    assert "not valid" in refused(get(wrong))
    refused(get(key[:15]))
    refused(get("é"))  # not even UTF-8 once encoded as the header's Latin-1

    newer = token_issue(user=login)  # one token per login: the new one replaces it
    refused(get(key))
    assert get(newer).status_code == 200
    assert AuthToken.objects.filter(user=login).count() == 1
    actions = list(AuditEvent.objects.filter(action="api.token_issue").order_by("pk").values_list("before", "after"))
    assert actions[1][0] == {"token": key[:6] + "…"}
    assert actions[1][1]["token"] == newer[:6] + "…"


def test_authentication_reads_one_row(login, django_assert_num_queries):
    key = token_issue(user=login)
    with django_assert_num_queries(1):  # the token with its login (by its stored prefix)
        user, token = TokenAuthentication().authenticate_credentials(key.encode())
    assert (user, token.user_id) == (login, login.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_for_a_token_at_once_leave_one(login, monkeypatch):
    real = AuthTokenManager.create

    def slow(self, *args, **kwargs):
        time.sleep(0.3)  # both requests would have deleted the old token before either creates one
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AuthTokenManager, "create", slow)
    keys = run_concurrently([lambda: token_issue(user=login), lambda: token_issue(user=login)])
    assert all(isinstance(key, str) for key in keys), keys
    assert AuthToken.objects.filter(user=login).count() == 1
    assert [get(key).status_code for key in keys].count(200) == 1


# Expiry ------------------------------------------------------------------------


def test_a_token_expires_after_the_ttl_whether_used_or_not(login, ttl_90_days):
    with time_machine.travel(NOON, tick=False):
        key = token_issue(user=login)
        expiry = AuthToken.objects.get(user=login).expiry
        assert expiry == NOON + datetime.timedelta(days=90)
    for day in (1, 30, 89):
        with time_machine.travel(NOON + datetime.timedelta(days=day), tick=False):
            assert get(key).status_code == 200
    assert AuthToken.objects.get(user=login).expiry == expiry  # using it did not push it back (no AUTO_REFRESH)

    with time_machine.travel(expiry, tick=False):
        message = refused(get(key), "token_expired")
        assert message == (
            "The API token expired on 2026-05-31 12:00 UTC: get a new one "
            "(POST /api/auth/token/ or the panel's API token page)"
        )
        refused(get(key), "token_expired")  # still, on the next request: the row is kept to say why
        assert AuthToken.objects.filter(user=login).exists()
        answer = APIClient().post("/api/auth/token/", {"username": "jane", "password": "pw"}, format="json")
        assert answer.json()["expiry"] == "2026-08-29T12:00:00Z"
        assert get(answer.json()["token"]).status_code == 200
        assert "not valid" in refused(get(key))  # replaced now


def test_with_a_ttl_of_0_a_token_never_expires(login, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": None}
    key = token_issue(user=login)
    assert AuthToken.objects.get(user=login).expiry is None
    with time_machine.travel(datetime.datetime(2036, 1, 1, tzinfo=datetime.UTC)):
        assert get(key).status_code == 200


# Revoked by a change of the password --------------------------------------------


def revoked(user, key) -> bool:
    gone = not AuthToken.objects.filter(user=user).exists()
    assert gone == (get(key).status_code == 401)
    return gone


def test_set_password_and_save_revokes(login):
    key = token_issue(user=login)
    login.set_password("another pw")
    login.save()
    assert revoked(login, key)
    assert AuditEvent.objects.filter(action="api.token_revoke", reason="password changed").count() == 1


def test_an_unusable_password_revokes(login):
    key = token_issue(user=login)
    login.set_unusable_password()
    login.save()
    assert revoked(login, key)


def test_the_panels_password_change_revokes(login):
    key = token_issue(user=login)
    client = Client()
    client.force_login(login)
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw", "new_password1": "a much longer pass 7", "new_password2": "a much longer pass 7"},
    )
    assert response.status_code == 302, response.content
    assert revoked(login, key)


def test_a_password_reset_revokes(login):
    key = token_issue(user=login)
    client = Client()
    uid = urlsafe_base64_encode(force_bytes(login.pk))
    link = reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(login)])
    form = client.get(link, follow=True)
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a much longer pass 7", "new_password2": "a much longer pass 7"}
    )
    assert response.status_code == 302, response.content
    assert revoked(login, key)


def test_a_new_password_set_in_django_admin_revokes(login, admin_client):
    key = token_issue(user=login)
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[login.pk]),
        {"password1": "a much longer pass 7", "password2": "a much longer pass 7", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    assert revoked(login, key)


class OneIterationPBKDF2(PBKDF2PasswordHasher):
    iterations = 1  # fast, and not the hasher the test password was made with


def test_signing_in_revokes_nothing_even_when_django_rehashes_the_password(login, settings):
    key = token_issue(user=login)
    settings.PASSWORD_HASHERS = [f"{__name__}.OneIterationPBKDF2", "django.contrib.auth.hashers.MD5PasswordHasher"]
    assert login.password.startswith("md5$")
    assert Client().login(username="jane", password="pw")  # re-hashed, and last_login saved
    login.refresh_from_db()
    assert login.password.startswith("pbkdf2_sha256$1$")
    login.first_name = "Jane"
    login.save()  # nor does saving something else
    assert not revoked(login, key)


# Clear tokens of rest_framework.authtoken ---------------------------------------


def old_table(rows):
    """rest_framework.authtoken's table as it was, with ``rows`` of (key, user_id, created)."""
    created = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    with connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, "created" {created} NOT NULL, '
            '"user_id" integer NOT NULL UNIQUE)'
        )
        for key, user_id, when in rows:
            cursor.execute(
                'INSERT INTO authtoken_token ("key", "user_id", "created") VALUES (%s, %s, %s)',
                [key, user_id, connection.ops.adapt_datetimefield_value(when)],
            )


def test_the_migration_turns_each_clear_token_into_a_digest_that_still_works(login, ttl_90_days):
    other = UserFactory(username="other")
    keys = {login.pk: "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", other.pk: "0123456789abcdef0123456789abcdef01234567"}
    then = datetime.datetime(2024, 6, 1, 8, 30, tzinfo=datetime.UTC)
    old_table([(key, user_id, then) for user_id, key in keys.items()])

    with time_machine.travel(NOON, tick=False):
        assert migration.move_clear_tokens(connection, AuthToken) == 2

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    assert "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b" not in every_stored_value()
    token = AuthToken.objects.get(user=login)
    assert (token.token_key, token.created, token.expiry) == (
        "9944b09199c62bc",
        then,  # its own date, not the migration's
        NOON + datetime.timedelta(days=90),  # the TTL counts from the migration
    )
    with time_machine.travel(NOON + datetime.timedelta(days=1)):
        assert get(keys[login.pk]).status_code == 200  # the integration keeps its key
    assert AuthToken.objects.get(user=other).created == then


def test_without_the_old_table_the_migration_does_nothing():
    assert "authtoken_token" not in connection.introspection.table_names()  # migrated from zero: never made
    assert migration.move_clear_tokens(connection, AuthToken) == 0


# Django admin --------------------------------------------------------------------


def test_admin_lists_tokens_without_keys_or_digests_and_revokes(login, admin_client):
    key = token_issue(user=login)
    token = AuthToken.objects.get(user=login)
    changelist = reverse("admin:knox_authtoken_changelist")

    page = admin_client.get(changelist).content.decode()
    assert "jane" in page
    assert f"{token.token_key}…" in page
    assert key not in page
    # The digest is the rows' primary key: only the value of the row's checkbox, never shown.
    assert page.count(token.digest) == 1
    assert f'name="{ACTION_CHECKBOX_NAME}" value="{token.digest}"' in page
    assert 'value="delete_selected"' not in page
    assert admin_client.get(f"/admin/knox/authtoken/{token.digest}/change/").status_code == 404
    assert admin_client.get("/admin/knox/authtoken/add/").status_code == 404

    admin_client.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]})
    assert revoked(login, key)
    event = AuditEvent.objects.get(action="api.token_revoke")
    assert (event.reason, event.actor_label) == ("revoked in Django admin", "admin")


def test_staff_without_the_delete_permission_cannot_revoke(login):
    from django.contrib.auth.models import Permission

    token_issue(user=login)
    staff = get_user_model().objects.create_user("support", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_authtoken"))
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:knox_authtoken_changelist")
    assert "jane" in client.get(changelist).content.decode()
    token = AuthToken.objects.get(user=login)
    assert client.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]}).status_code == 403
    assert AuthToken.objects.filter(user=login).exists()
