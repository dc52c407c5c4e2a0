"""Settings for the test suite: the real settings, with a throwaway key."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-test-key")
os.environ.setdefault("REDIS_URL", "")

from billing_portal.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tasks run in-process in tests unless a test starts a real worker itself.
CELERY_TASK_ALWAYS_EAGER = True
# The test client speaks plain HTTP to "testserver"; production redirects to
# HTTPS (tests/test_proxies.py covers the redirect and the proxy's header).
SECURE_SSL_REDIRECT = False
# Admin tests sign in with force_login (no second factor); the second factor's
# own tests turn this on (tests/admin/test_admin_door.py).
ADMIN_OTP_REQUIRED = False
