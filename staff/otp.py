"""The admin's second factor: an authenticator app (TOTP, django-otp's
otp_totp) and single-use recovery codes (otp_static), one of each per staff
login.

Enrolment is self-service, so a secret is only ever seen by its owner: the key
lives in the session until a current code proves the app holds it, and only
then is the device stored. Replacing a device needs a verified session (the
security page resets it) or a platform admin deleting it in the admin.

Wrong codes are throttled twice: each attempt counts against the sign-in
throttle (logins.throttle), and django-otp's devices refuse codes for a while after
a failure (OTP_TOTP_THROTTLE_FACTOR and OTP_STATIC_THROTTLE_FACTOR, default 1:
1, 2, 4, 8... seconds after successive failures).
"""

import re
import time
from base64 import b32encode
from binascii import unhexlify
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO

import qrcode
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key
from qrcode.image.svg import SvgPathImage

from audit.services import audit_record
from core.errors import DomainError

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"

_TOTP_CODE = re.compile(r"[0-9]{6}")  # ASCII: \d takes "٣"
# StaticToken.random_token(): 5 random bytes in lower-case base32.
_RECOVERY_CODE = re.compile(r"[a-z2-7]{8}")


def is_verified(user) -> bool:
    """Signed in with a second factor in this session (django-otp's
    OTPMiddleware installs ``is_verified``; without it, nobody is)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def otp_required() -> bool:
    """ADMIN_OTP_REQUIRED (default on): staff reach the admin only with a
    session verified by a second factor, and enrol before anything else."""
    return bool(getattr(settings, "ADMIN_OTP_REQUIRED", True))


# --- Pure rules over the typed code ---


class CodeKind(StrEnum):
    AUTHENTICATOR = "authenticator"
    RECOVERY = "recovery"


def normalise_code(code: str) -> str:
    # People type codes as they see them grouped ("123 456", "abcd-efgh").
    return re.sub(r"[\s-]", "", code or "").lower()


def code_kind(code: str) -> CodeKind | None:
    """Which device a normalised code is for: six digits are the app's, eight
    base32 letters a recovery code; anything else is neither (and is refused
    without troubling a device's throttle)."""
    if _TOTP_CODE.fullmatch(code):
        return CodeKind.AUTHENTICATOR
    if _RECOVERY_CODE.fullmatch(code):
        return CodeKind.RECOVERY
    return None


def key_as_text(key_hex: str) -> str:
    """The secret as people type it into an app: base32, in groups of four."""
    text = b32encode(unhexlify(key_hex)).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def config_url(user, key_hex: str) -> str:
    """The otpauth:// address an app reads from the QR code."""
    return TOTPDevice(user=user, key=key_hex, name=AUTHENTICATOR_NAME).config_url


def qr_svg(data: str) -> str:
    """``data`` as an inline SVG QR code (no Pillow, no image request)."""
    out = BytesIO()
    qrcode.make(data, image_factory=SvgPathImage, box_size=8, border=2).save(out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]  # without the XML declaration, to sit inside HTML


# --- Reads ---


def has_authenticator(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def needs_enrolment(user) -> bool:
    """A staff login that must set up its authenticator before anything else."""
    return otp_required() and not has_authenticator(user)


@dataclass(frozen=True)
class SecondFactorState:
    authenticator_since: object  # datetime or None
    recovery_codes_left: int


def second_factor_state(user) -> SecondFactorState:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    left = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return SecondFactorState(device.created_at if device else None, left)


# --- Writes ---


def second_factor_verify(*, user, code: str):
    """The user's device that accepts ``code`` (a normalised code), or None.
    The device's row is locked while its code is checked, so one code cannot be
    used twice by parallel sign-ins: the app's code moves the device's last
    time step on, and a recovery code is claimed by deleting its row (the
    deleted count says who won)."""
    kind = code_kind(code)
    if kind is None:
        return None
    with transaction.atomic():
        if kind is CodeKind.AUTHENTICATOR:
            for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
                if device.verify_token(code):  # throttles and counts failures itself
                    return device
            return None
        device = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        if device is None or not device.verify_is_allowed()[0]:
            return None
        deleted, _ = StaticToken.objects.filter(device=device, token=code).delete()
        if not deleted:
            device.throttle_increment(commit=True)
            return None
        device.throttle_reset(commit=False)
        device.set_last_used_timestamp(commit=False)
        device.save()
        return device


def new_totp_key() -> str:
    return default_key()


def totp_enrol(*, actor, user, key_hex: str, code: str) -> TOTPDevice | None:
    """Store ``key_hex`` as the user's authenticator if ``code`` is a current
    code for it; None if not. Refused if the user already has one: replacing a
    device goes through ``otp_devices_reset`` first."""
    device = TOTPDevice(user=user, key=key_hex, name=AUTHENTICATOR_NAME, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    code = normalise_code(code)
    if code_kind(code) is not CodeKind.AUTHENTICATOR or not totp.verify(int(code), device.tolerance):
        return None
    with transaction.atomic():
        # The user's row serialises two enrolments of one login.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if has_authenticator(user):
            raise DomainError("An authenticator app is already set up for this login.", code="already_enrolled")
        TOTPDevice.objects.filter(user=user).delete()  # leftovers never confirmed
        device.last_t = totp.t()  # the code just used cannot sign in again
        device.save()
        audit_record(actor=actor, action="otp.authenticator_added", target=user, reason="enrolled in the admin")
    return device


def recovery_codes_issue(*, actor, user) -> list[str]:
    """Ten new single-use recovery codes for ``user``; the old ones stop
    working. Returned once, to be shown once: nothing else shows them."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).exclude(name=RECOVERY_CODES_NAME).delete()
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_CODES_NAME, defaults={"confirmed": True}
        )
        StaticToken.objects.filter(device=device).delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
        audit_record(actor=actor, action="otp.recovery_codes_issued", target=user, after=RECOVERY_CODE_COUNT)
    return codes


def otp_devices_remove(*, actor, devices, reason: str) -> int:
    """Remove these devices (a platform admin deleting them in the admin),
    each recorded against its owner."""
    with transaction.atomic():
        for device in devices:
            audit_record(
                actor=actor, action="otp.device_removed", target=device.user, before=device.name, reason=reason
            )
            device.delete()
    return len(devices)


def otp_devices_reset(*, actor, user, reason: str) -> int:
    """Remove the user's authenticator and recovery codes; the next admin
    sign-in (with ADMIN_OTP_REQUIRED) enrols afresh. Returns how many devices
    went."""
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        audit_record(actor=actor, action="otp.devices_removed", target=user, after=removed, reason=reason)
    return removed
