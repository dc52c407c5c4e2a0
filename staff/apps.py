from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StaffConfig(AppConfig):
    """The platform staff's face: Django's admin site, its second factor, and
    the admins of core's own records. At the top of the layers with the panels
    and the API; every app's admin module builds on audit.admin_kit."""

    name = "staff"
    verbose_name = "Staff"


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the portal's site (staff.site) as ``admin.site``:
    INSTALLED_APPS names this in place of "django.contrib.admin"."""

    default = False  # not a candidate when Django picks the "staff" app's config
    default_site = "staff.site.PortalAdminSite"
