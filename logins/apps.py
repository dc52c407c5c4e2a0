from django.apps import AppConfig


class LoginsConfig(AppConfig):
    """How a login gets in, whichever door it uses: the sign-in throttle (the
    panels', the API's token request, the admin's) and the API's tokens. Below
    the faces, so that the panels and the API share them without importing
    each other."""

    name = "logins"
    verbose_name = "Logins"
