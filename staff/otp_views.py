"""The admin's sign-in with a second factor, enrolment, and the staff member's
own security page (staff.otp has the rules and the writes)."""

from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login

from core.actors import actor_for_user
from core.errors import DomainError
from logins.throttle import ThrottledFormMixin, ThrottledResponseMixin
from staff.otp import (
    config_url,
    has_authenticator,
    is_verified,
    key_as_text,
    needs_enrolment,
    new_totp_key,
    normalise_code,
    otp_devices_reset,
    otp_required,
    qr_svg,
    recovery_codes_issue,
    second_factor_state,
    second_factor_verify,
    totp_enrol,
)

# The name it had when this module was core.otp_views: an enrolment under way
# across a deploy keeps its key.
ENROL_KEY_SESSION = "core.otp.enrol_key"

CODE_HELP = "The 6-digit code from your authenticator app, or one of your recovery codes."


def code_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false", "size": 12}
        ),
        **kwargs,
    )


# --- Signing in ---


class SecondFactorAdminForm(AdminAuthenticationForm):
    """The password, then the code. A wrong or missing code gets the same
    sentence as a wrong password: the form never tells a guesser which of the
    two was right."""

    code = code_field(label="Code", required=False, help_text=CODE_HELP)

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the correct %(username)s, password and code for a staff account. "
            "Note that the username and password may be case-sensitive."
        ),
    }

    def clean(self):
        cleaned = super().clean()  # the password, and is_staff
        user = self.get_user()
        code = normalise_code(cleaned.get("code", ""))
        device = second_factor_verify(user=user, code=code) if code else None
        if device is None and (code or (otp_required() and has_authenticator(user))):
            raise self.get_invalid_login_error()
        # django-otp marks the session verified by this device when the view signs the user in.
        user.otp_device = device
        return cleaned


class AdminLoginForm(ThrottledFormMixin, SecondFactorAdminForm):
    """Throttled like the panels' sign-in: a wrong code counts as a failed attempt."""


def enrol_url(next_url: str) -> str:
    return f"{reverse('admin:otp_enrol')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"


class AdminLoginView(ThrottledResponseMixin, LoginView):
    def form_valid(self, form):
        response = super().form_valid(form)
        if needs_enrolment(form.get_user()):
            return HttpResponseRedirect(enrol_url(self.get_success_url()))
        return response


# --- Enrolment and the security page ---


def staff_signed_in(view):
    """Like ``admin_view`` without asking for the second factor: for the pages
    that set it up."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not (user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return csrf_protect(never_cache(wrapped))


def next_url(request) -> str:
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, require_https=request.is_secure()):
        return url
    return reverse("admin:index")


class EnrolForm(forms.Form):
    code = code_field(label="Code from the app", help_text="The 6 digits the app shows now.")


def recovery_codes_page(request, codes: list[str], continue_to: str):
    from django.contrib import admin

    return TemplateResponse(
        request,
        "admin/otp/recovery_codes.html",
        {
            **admin.site.each_context(request),
            "title": "Your recovery codes",
            "codes": codes,
            "continue_to": continue_to,
        },
    )


@staff_signed_in
def enrol(request):
    from django.contrib import admin

    user = request.user
    continue_to = next_url(request)
    if has_authenticator(user):
        # Already set up: sign in with it (a lost app is reset from the security page, or by a platform admin).
        if is_verified(user):
            return HttpResponseRedirect(continue_to)
        return redirect_to_login(continue_to, reverse("admin:login"))
    # The key waits in the session until a code proves the app holds it, so
    # reloading the page keeps the QR code already scanned.
    key = request.session.get(ENROL_KEY_SESSION) or new_totp_key()
    request.session[ENROL_KEY_SESSION] = key
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actor = actor_for_user(user)
        try:
            device = totp_enrol(actor=actor, user=user, key_hex=key, code=form.cleaned_data["code"])
        except DomainError as exc:  # enrolled meanwhile (another tab)
            form.add_error(None, str(exc))
        else:
            if device is None:
                form.add_error("code", "That is not the app's current code. Check the app and try again.")
            else:
                codes = recovery_codes_issue(actor=actor, user=user)
                otp_login(request, device)
                del request.session[ENROL_KEY_SESSION]
                return recovery_codes_page(request, codes, continue_to)
    return TemplateResponse(
        request,
        "admin/otp/enrol.html",
        {
            **admin.site.each_context(request),
            "title": "Set up two-factor sign-in",
            "form": form,
            "secret": key_as_text(key),
            "qr_svg": mark_safe(qr_svg(config_url(user, key))),  # our own SVG: no user input in it
            "next": continue_to,
            "required": otp_required(),
        },
    )


def security(request):
    """Wrapped by admin_view (staff.site): a verified session when the second factor is required."""
    from django.contrib import admin

    user = request.user
    actor = actor_for_user(user)
    if request.method == "POST" and request.POST.get("do") == "regenerate" and has_authenticator(user):
        return recovery_codes_page(request, recovery_codes_issue(actor=actor, user=user), reverse("admin:otp_security"))
    if request.method == "POST" and request.POST.get("do") == "reset":
        otp_devices_reset(actor=actor, user=user, reason="reset by its owner")
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
        return HttpResponseRedirect(enrol_url(reverse("admin:index")))
    return TemplateResponse(
        request,
        "admin/otp/security.html",
        {
            **admin.site.each_context(request),
            "title": "Two-factor sign-in",
            "state": second_factor_state(user),
            "required": otp_required(),
        },
    )
