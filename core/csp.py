"""The pages that need more than the site-wide Content-Security-Policy
(settings.CONTENT_SECURITY_POLICY: this origin's own files only), each
widened for itself only, where its route is declared.

- The add-card page loads Stripe.js (``stripe_js_allowed``).
- The API docs (Swagger UI, Redoc) run third-party bundles served by the
  project (drf-spectacular-sidecar) that write inline styles
  (``api_docs_policy``).
- The message pages show a notice's mail with its inline styles
  (``notice_styles_allowed``).
"""

from functools import wraps
from urllib.parse import urlsplit

from csp.decorators import csp_update
from django.conf import settings

REAL_STRIPE_JS = "https://js.stripe.com/v3/"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_sources() -> dict[str, list[str]]:
    """What Stripe.js, as configured now, needs beyond 'self'."""
    js = origin(settings.STRIPE_JS_URL or REAL_STRIPE_JS)
    if js == origin(REAL_STRIPE_JS):
        # Stripe's published list for Stripe.js: the script, the card element's
        # frames (hooks.stripe.com for 3-D Secure) and its API.
        return {
            "script-src": [js],
            "frame-src": [js, "https://hooks.stripe.com"],
            # connect-src is not in the site-wide policy: 'self' named again,
            # or this page alone could not call its own site.
            "connect-src": ["'self'", "https://api.stripe.com"],
        }
    # A stand-in such as localstripe: its script calls the API it is served
    # from and draws the card fields in the page (no frame).
    connect = ["'self'", js]
    if settings.STRIPE_API_BASE and origin(settings.STRIPE_API_BASE) != js:
        connect.append(origin(settings.STRIPE_API_BASE))
    return {"script-src": [js], "connect-src": connect}


def stripe_js_allowed(view):
    """The view's page may load and use Stripe.js (the origins are read per
    request: the settings can change, e.g. in tests)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return csp_update(stripe_sources())(view)(request, *args, **kwargs)

    return wrapped


# Swagger UI and Redoc insert <style> elements from their bundles (Redoc's
# styled-components and style-loader, before any nonce could reach them) and
# Redoc searches in a worker made from a blob. Their scripts stay 'self' only:
# Swagger UI's start-up script is served as a file (SpectacularSwaggerSplitView).
api_docs_policy = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})

# A message page shows the notice as mailed, in a sandboxed srcdoc frame that
# inherits the page's policy: mail needs its style="" attributes (mail clients
# drop <style>). Style attributes only; scripts stay off (the sandbox and
# script-src 'self').
notice_styles_allowed = csp_update({"style-src-attr": ["'unsafe-inline'"]})
