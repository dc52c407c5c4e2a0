"""The admin site (installed as Django's default ``admin.site`` by
staff.apps.PortalAdminConfig, so every ``admin.site.register`` lands here).

- Signing in goes through the sign-in throttle (logins.throttle), and then asks
  for a second factor (staff.otp): a code from the authenticator app or a
  recovery code, on the same form. With ADMIN_OTP_REQUIRED, only a session
  verified that way reaches any admin page (the status page included), and a
  staff login without an authenticator enrols before anything else.
- Every registered ModelAdmin answers 403 to a posted action the user may not
  run (audit.admin_kit.PermittedActionsMixin), however it was registered.
"""

from urllib.parse import urlencode

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from audit.admin_kit import PermittedActionsMixin
from staff.otp import is_verified


class PortalAdminSite(AdminSite):
    site_header = "Renewal portal administration"
    site_title = "Renewal portal"
    login_template = "admin/portal_login.html"

    def has_permission(self, request):
        from staff.otp import otp_required

        if not super().has_permission(request):
            return False
        return not otp_required() or is_verified(request.user)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or ModelAdmin
        if not issubclass(admin_class, PermittedActionsMixin):
            # Django's own (users, groups) and django-otp's admins too: a new
            # action anywhere gets the 403 without anyone remembering it.
            admin_class = type(
                admin_class.__name__,
                (PermittedActionsMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def get_urls(self):
        from staff import otp_views

        return [
            path("otp/enrol/", otp_views.enrol, name="otp_enrol"),
            path("otp/", self.admin_view(otp_views.security), name="otp_security"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        # As AdminSite.login, with the throttled, two-factor form and view.
        from staff.otp import needs_enrolment
        from staff.otp_views import AdminLoginForm, AdminLoginView

        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        user = request.user
        if user.is_active and user.is_staff and needs_enrolment(user):
            # The password is proven (here or on the panels' sign-in): enrol first.
            next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
            return HttpResponseRedirect(f"{reverse('admin:otp_enrol')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return AdminLoginView.as_view(
            extra_context=context, authentication_form=AdminLoginForm, template_name=self.login_template
        )(request)
