"""The admin's door: the sign-in throttle shared with the panels, the second
factor (an authenticator app's code or a single-use recovery code) when
ADMIN_OTP_REQUIRED is on, enrolment on a first sign-in, the staff member's own
security page, and a platform admin removing someone's lost device."""

import base64
import datetime
import re

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from staff.otp import (
    CodeKind,
    code_kind,
    key_as_text,
    new_totp_key,
    normalise_code,
    recovery_codes_issue,
    second_factor_verify,
)
from tenants.scope import Actor
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
STATUS = reverse("admin-status")
ENROL = reverse("admin:otp_enrol")
SECURITY = reverse("admin:otp_security")
REFUSED = "Please enter the correct username, password and code for a staff account."
THROTTLED = "Too many failed sign-ins for this account"


@pytest.fixture(autouse=True)
def otp_on(settings):
    settings.ADMIN_OTP_REQUIRED = True


@pytest.fixture
def clock():
    # Codes depend on the time: a fixed clock that tests move on explicitly.
    with time_machine.travel(datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def ops(db):
    return UserFactory(username="ops", is_staff=True, is_superuser=True)


@pytest.fixture
def device(ops):
    made = TOTPDevice.objects.create(user=ops, name="Authenticator app", confirmed=True)
    return made


@pytest.fixture
def recovery(ops, device):
    return recovery_codes_issue(actor=Actor.system("test"), user=ops)


def code_for(device_or_key) -> str:
    key = device_or_key.bin_key if isinstance(device_or_key, TOTPDevice) else device_or_key
    return f"{totp(key):06d}"


def sign_in(client, password="pw", code=None, username="ops", address="10.0.0.1"):
    data = {"username": username, "password": password, "next": INDEX}
    if code is not None:
        data["code"] = code
    return client.post(LOGIN, data, REMOTE_ADDR=address)


def reaches_admin(client) -> bool:
    index, status = client.get(INDEX), client.get(STATUS)
    assert index.status_code == status.status_code
    return index.status_code == 200


# --- The second factor at sign-in ---


def test_the_right_code_from_the_app_signs_in_to_the_admin_and_the_status_page(client, device, clock):
    # when
    response = sign_in(client, code=code_for(device))

    # then
    assert response.status_code == 302
    assert response.url == INDEX
    assert reaches_admin(client)
    page = client.get(INDEX).content.decode()
    assert f'href="{SECURITY}">Two-factor</a>' in page


def test_the_password_alone_does_not_open_the_admin(client, device, clock):
    # when
    response = sign_in(client)

    # then: the same sentence as a wrong password, and nothing signed in
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(INDEX).url.startswith(LOGIN)
    assert client.get(STATUS).url.startswith(LOGIN)


def test_a_session_signed_in_with_the_password_elsewhere_does_not_open_the_admin(client, device, clock):
    # given: the panels' sign-in takes the password alone
    assert client.post("/accounts/login/", {"username": "ops", "password": "pw"}).status_code == 302

    # then: the admin and its status page send it to the admin's sign-in, which asks for the code
    assert client.get(INDEX).url == f"{LOGIN}?next={INDEX}"
    assert client.get(STATUS).url == f"{LOGIN}?next={STATUS}"
    page = client.get(LOGIN).content.decode()
    assert 'name="code"' in page
    assert "needs a staff account signed in here with its" in page

    # and: with the code it gets in
    assert sign_in(client, code=code_for(device)).status_code == 302
    assert reaches_admin(client)


def test_a_wrong_code_is_refused_like_a_wrong_password(client, device, clock):
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    # when
    response = sign_in(client, code=wrong)

    # then
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not reaches_admin(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp's own throttle saw it

    # and: a wrong password with the right code gets the very same sentence
    other = sign_in(Client(), password="wrong", code=code_for(device)).content.decode()
    assert REFUSED in other


def test_a_code_signs_in_once(client, device, clock):
    # given
    code = code_for(device)
    assert sign_in(client, code=code).status_code == 302

    # when: the same code again within its 30 seconds
    again = Client()
    response = sign_in(again, code=code)

    # then
    assert REFUSED in response.content.decode()
    assert not reaches_admin(again)

    # and: the next code works
    clock.shift(datetime.timedelta(seconds=30))
    assert sign_in(again, code=code_for(device)).status_code == 302


def test_after_a_wrong_code_the_device_waits_before_taking_the_right_one(client, device, clock, settings):
    # OTP_TOTP_THROTTLE_FACTOR is left at django-otp's default (1 second, doubling).
    assert not hasattr(settings, "OTP_TOTP_THROTTLE_FACTOR") or settings.OTP_TOTP_THROTTLE_FACTOR >= 1
    sign_in(Client(), code="000000" if code_for(device) != "000000" else "111111")

    # when: the right code at once
    assert REFUSED in sign_in(client, code=code_for(device)).content.decode()

    # then: a little later it is taken
    clock.shift(datetime.timedelta(seconds=3))
    assert sign_in(client, code=code_for(device)).status_code == 302


def test_a_recovery_code_signs_in_once(client, recovery, clock):
    # when: typed as people type it
    code = recovery[3]
    response = sign_in(client, code=f" {code[:4].upper()}-{code[4:]} ")

    # then
    assert response.status_code == 302
    assert reaches_admin(client)
    assert StaticToken.objects.filter(device__user__username="ops").count() == 9

    # and: never again
    again = Client()
    assert REFUSED in sign_in(again, code=code).content.decode()
    assert not reaches_admin(again)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ins_with_one_recovery_code_let_one_in():
    # Two real connections: the code's row is claimed by deleting it, so only one wins.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    user = UserFactory(username="ops", is_staff=True)
    [code] = recovery_codes_issue(actor=Actor.system("test"), user=user)[:1]

    def attempt(_):
        try:
            return second_factor_verify(user=user, code=code) is not None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(attempt, range(2)))
    assert sorted(results) == [False, True]


# --- The throttle, shared with the panels' sign-in ---


def test_the_admin_is_locked_after_repeated_failures_even_for_the_right_password_and_code(client, device, clock):
    # given: five wrong passwords for the account, from several addresses
    for n in range(5):
        response = sign_in(Client(), password="wrong", code=code_for(device), address=f"10.0.1.{n}")
        assert response.status_code == 200

    # when: the right password and a right code
    response = sign_in(client, code=code_for(device), address="10.0.2.1")

    # then: refused with 429, without looking at either
    assert response.status_code == 429
    page = response.content.decode()
    assert THROTTLED in page
    assert "Try again in 15 minutes" in page
    assert REFUSED not in page
    assert not reaches_admin(client)
    device.refresh_from_db()
    assert device.last_used_at is None  # the code was not even checked


def test_wrong_codes_count_as_failed_sign_ins(client, device, clock):
    # given: the right password five times, each with a wrong code
    right = code_for(device)
    for n in range(5):
        clock.shift(datetime.timedelta(minutes=1))  # past the device's own wait
        wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
        assert sign_in(Client(), code=wrong, address=f"10.0.3.{n}").status_code == 200
    assert right  # (the codes moved on with the clock)

    # when
    response = sign_in(client, code=code_for(device))

    # then
    assert response.status_code == 429
    assert THROTTLED in response.content.decode()


def test_the_panels_and_the_admin_share_one_count(client, device, clock):
    # given: failures on the panels' sign-in
    for _ in range(5):
        assert Client().post("/accounts/login/", {"username": "ops", "password": "wrong"}).status_code == 200

    # then: the admin's sign-in is locked too
    assert sign_in(client, code=code_for(device)).status_code == 429


# --- Enrolment ---


def secret_on(page: str) -> bytes:
    text = re.search(r'<code class="otp-secret">([A-Z2-7 ]+)</code>', page).group(1)
    return base64.b32decode(text.replace(" ", ""))


def test_a_staff_login_without_a_device_enrols_before_anything_else(client, ops, clock):
    # when: the password alone (nothing to give a code from yet)
    response = sign_in(client)

    # then: to the enrolment page, and nowhere else until it is done
    assert response.status_code == 302
    assert response.url == f"{ENROL}?next=%2Fadmin%2F"
    assert client.get(INDEX).url == f"{LOGIN}?next={INDEX}"
    assert client.get(f"{LOGIN}?next={INDEX}").url == f"{ENROL}?next=%2Fadmin%2F"
    assert client.get(STATUS).status_code == 302

    # when: the enrolment page
    page = client.get(response.url).content.decode()

    # then: a QR code drawn inline, the secret as text, and no inline script or style (CSP)
    assert "<svg" in page
    key = secret_on(page)
    assert len(key) == 20
    assert "<script>" not in page
    assert "style=" not in page
    assert "<style" not in page
    # reloading keeps the same secret (the app may have scanned it already)
    assert secret_on(client.get(ENROL).content.decode()) == key

    # when: a wrong code
    wrong = client.post(ENROL, {"code": f"{(int(code_for(key)) + 1) % 1_000_000:06d}", "next": INDEX})
    assert "That is not the app&#x27;s current code" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=ops).exists()

    # when: the app's current code
    done = client.post(ENROL, {"code": code_for(key), "next": INDEX})

    # then: ten recovery codes, shown once, and the admin is open
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == len(set(codes)) == 10
    assert sorted(StaticToken.objects.filter(device__user=ops).values_list("token", flat=True)) == sorted(codes)
    device = TOTPDevice.objects.get(user=ops)
    assert device.confirmed
    assert device.bin_key == key
    assert reaches_admin(client)
    assert client.get(ENROL).url == INDEX  # nothing left to enrol
    assert set(AuditEvent.objects.filter(target_id=ops.pk).values_list("action", flat=True)) == {
        "otp.authenticator_added",
        "otp.recovery_codes_issued",
    }

    # and: the next sign-in asks for the code
    later = Client()
    clock.shift(datetime.timedelta(seconds=30))
    assert REFUSED in sign_in(later).content.decode()
    assert sign_in(later, code=code_for(device)).status_code == 302
    assert sign_in(Client(), code=codes[0]).status_code == 302


def test_enrolment_cannot_replace_a_device_without_its_code(client, device, clock):
    # given: signed in with the password only (the panels' sign-in)
    client.post("/accounts/login/", {"username": "ops", "password": "pw"})

    # when: the enrolment page, to set up an app of one's own
    response = client.get(ENROL)

    # then: back to the sign-in, which asks for the existing device's code
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)
    key = new_totp_key()
    client.post(ENROL, {"code": code_for(bytes.fromhex(key))})
    assert list(TOTPDevice.objects.filter(user=device.user)) == [device]


def test_enrolment_is_for_staff_only(client, db):
    UserFactory(username="jane")
    client.post("/accounts/login/", {"username": "jane", "password": "pw"})

    assert client.get(ENROL).url.startswith(LOGIN)


# --- The security page: new recovery codes, a new device ---


@pytest.fixture
def signed_in(client, device, recovery, clock):
    assert sign_in(client, code=code_for(device)).status_code == 302
    return client


def test_new_recovery_codes_replace_the_old_ones(signed_in, recovery, clock):
    page = signed_in.get(SECURITY).content.decode()
    assert "Recovery codes left: 10" in page
    assert "style=" not in page

    # when
    response = signed_in.post(SECURITY, {"do": "regenerate"})

    # then: ten new ones, shown once; the old ones no longer work
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(codes) == 10
    assert not set(codes) & set(recovery)
    assert REFUSED in sign_in(Client(), code=recovery[0]).content.decode()
    clock.shift(datetime.timedelta(seconds=2))  # the codes' own wait after that failure
    assert sign_in(Client(), code=codes[0]).status_code == 302
    assert codes[1] not in signed_in.get(SECURITY).content.decode()


def test_resetting_the_device_leads_to_a_new_enrolment(signed_in, device, clock):
    # when
    response = signed_in.post(SECURITY, {"do": "reset"})

    # then: the devices are gone, and the session must enrol again
    assert response.url == f"{ENROL}?next=%2Fadmin%2F"
    assert not TOTPDevice.objects.exists()
    assert not StaticDevice.objects.exists()
    assert not reaches_admin(signed_in)
    key = secret_on(signed_in.get(ENROL).content.decode())
    assert key != device.bin_key
    assert signed_in.post(ENROL, {"code": code_for(key)}).status_code == 200
    assert reaches_admin(signed_in)


def test_the_security_page_needs_the_second_factor(client, device, clock):
    client.post("/accounts/login/", {"username": "ops", "password": "pw"})

    assert client.get(SECURITY).url.startswith(LOGIN)
    assert client.post(SECURITY, {"do": "reset"}).url.startswith(LOGIN)
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


# --- A platform admin and other people's devices ---


@pytest.fixture
def colleague_device(db):
    colleague = UserFactory(username="colleague", is_staff=True)
    made = TOTPDevice.objects.create(user=colleague, name="Authenticator app", confirmed=True)
    codes = recovery_codes_issue(actor=Actor.system("test"), user=colleague)
    return made, codes


def test_a_platform_admin_removes_a_colleagues_lost_device(signed_in, colleague_device):
    device, codes = colleague_device
    change = reverse("admin:otp_totp_totpdevice_change", args=[device.pk])

    # the device's page shows neither the key nor a QR code, and cannot edit it
    page = signed_in.get(change).content.decode()
    assert device.key not in page
    assert key_as_text(device.key).replace(" ", "") not in page.replace(" ", "")
    assert "qrcode" not in page.lower()
    assert signed_in.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    static = StaticDevice.objects.get(user=device.user)
    static_page = signed_in.get(reverse("admin:otp_static_staticdevice_change", args=[static.pk]))
    assert codes[0] not in static_page.content.decode()

    # when
    response = signed_in.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})

    # then: gone, and recorded against its owner
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="otp.device_removed")
    assert (event.target_id, event.actor_label, event.before) == (device.user_id, "ops", "Authenticator app")


def test_view_only_staff_see_devices_but_never_a_secret(client, colleague_device, clock):
    # given: a staff member allowed to view devices, signed in with a second factor
    device, codes = colleague_device
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_totpdevice", "view_staticdevice"]))
    own = TOTPDevice.objects.create(user=viewer, name="Authenticator app", confirmed=True)
    assert sign_in(client, username="viewer", code=code_for(own)).status_code == 302

    # then: the lists and pages open, without the key, the QR code or the codes
    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    assert listing.status_code == 200
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert "colleague" in page
    assert device.key not in page + listing.content.decode()
    static = StaticDevice.objects.get(user=device.user)
    static_page = client.get(reverse("admin:otp_static_staticdevice_change", args=[static.pk])).content.decode()
    assert not any(code in static_page for code in codes)
    # django-otp's config and QR pages are not served at all
    assert client.get(f"{reverse('admin:otp_totp_totpdevice_changelist')}{device.pk}/config/").status_code in (302, 404)
    assert client.get(f"{reverse('admin:otp_totp_totpdevice_changelist')}{device.pk}/qrcode/").status_code in (302, 404)

    # and: may not remove it
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


# --- With the requirement off (development, the demo) ---


def test_without_the_requirement_the_password_alone_opens_the_admin(client, ops, settings):
    settings.ADMIN_OTP_REQUIRED = False

    assert sign_in(client).url == INDEX
    assert reaches_admin(client)


def test_without_the_requirement_a_wrong_code_is_still_refused(client, device, settings, clock):
    settings.ADMIN_OTP_REQUIRED = False

    assert REFUSED in sign_in(client, code="12345678").content.decode()
    assert sign_in(client, code=code_for(device)).status_code == 302


# --- The code's shape (pure) ---


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("123456", CodeKind.AUTHENTICATOR),
        (" 123 456 ", CodeKind.AUTHENTICATOR),
        ("ABCD-EF23", CodeKind.RECOVERY),
        ("abcdef23", CodeKind.RECOVERY),
        ("12345", None),
        ("1234567", None),
        ("abcdef21", None),  # 1 is not base32
        ("", None),
    ],
)
def test_a_code_is_recognised_by_its_shape(typed, kind):
    assert code_kind(normalise_code(typed)) == kind


def test_the_secret_is_shown_in_base32_groups_of_four():
    assert key_as_text("00" * 20) == "AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA"


def test_the_enrolment_page_can_sign_out_instead(client, ops):
    # given: signed in with the password, not yet enrolled
    sign_in(client)
    page = client.get(ENROL).content.decode()

    # when: its Log out button (the admin's own logout needs a verified session)
    assert f'action="{reverse("logout")}"' in page
    client.post(reverse("logout"))

    # then
    assert "_auth_user_id" not in client.session
    assert client.get(ENROL).url.startswith(LOGIN)
