from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the portal's site (core.admin_site) as ``admin.site``:
    INSTALLED_APPS names this in place of "django.contrib.admin"."""

    default = False  # not a candidate when Django picks the "core" app's config
    default_site = "core.admin_site.PortalAdminSite"
