"""Hostile input, sent to every endpoint that takes input, answers 4xx (never
a 5xx) and changes nothing: no money moves, no order is extended, no invoice
is made, and the portal still answers /healthz/live afterwards.

The endpoints are discovered, not listed: the API's operations from the live
OpenAPI schema (drf-spectacular's generator, so a new endpoint is covered
the day it exists) and the panels' pages from the URL resolver. A valid body
per API operation (BODIES) is poisoned one leaf at a time, so each refusal is
that field's; a new operation that takes a body without an entry in BODIES
fails ``test_every_api_body_has_a_valid_example``.

The portal is tests/panels/conftest.py's: customer c1 (logins owner and
colleague) of reseller acme, with orders o1-o3.
"""

import io
import json
import uuid

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from balances.models import Account, LedgerEntry
from core.limits import request_body_limit
from invoices.models import Invoice
from orders.models import Order
from payments.models import PaymentAttempt
from tests.helpers import renewal_form
from tests.panels import conftest as panels_portal
from webhooks.models import Endpoint

tenants = panels_portal.tenants  # the shared three-tenant portal (a fixture)


class Raw(str):
    """A value written into the JSON text as is (NaN, Infinity, 1e309, a
    401-digit number): Python's json would not write these."""


BIG = "1" + "0" * 400  # 10**400
MEGABYTE_STRING = "x" * 1_000_000
# Each value is wrong for every field it is put in: numbers, dates, choices,
# switches, ids and text alike.
POISONS = {
    "superscript": "²",
    "arabic_indic": "٣",
    "huge_int": Raw(BIG),
    "huge_negative": Raw("-" + BIG),
    "huge_string": BIG,
    "overflow_float": Raw("1e309"),
    "nan_literal": Raw("NaN"),
    "infinity_literal": Raw("Infinity"),
    "nan_string": "NaN",
    "infinity_string": "-Infinity",
    "null_byte": "1\x00",
    "megabyte": MEGABYTE_STRING,
    "object": {"x": 1},
}
FORM_POISONS = {name: str(value) for name, value in POISONS.items() if not isinstance(value, dict)}
TOO_LARGE = b'{"items": "' + b"x" * (20 * 2**20) + b'"}'  # 20 MB
TOO_DEEP = "[" * 100_000


def dump(body) -> str:
    """JSON text with each Raw value written as is."""
    marks = {}

    def mark(value):
        if isinstance(value, Raw):
            key = f"@@raw{len(marks)}@@"
            marks[f'"{key}"'] = str(value)
            return key
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(body), ensure_ascii=False)
    for key, raw in marks.items():
        text = text.replace(key, raw)
    return text


def leaves(body, path=""):
    """Each scalar of a body with its path as the API names it
    (``items[0].months``), and a function to put another value there."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from leaves(value, f"{path}[{index}]")
    else:
        yield path


def replaced(body, path: str, value):
    """A copy of ``body`` with the leaf at ``path`` set to ``value``."""
    copy = json.loads(json.dumps(body))
    node, steps = copy, path.replace("[", ".[").split(".")
    keys = [int(step[1:-1]) if step.startswith("[") else step for step in steps]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return copy


# --- What must not move ---


def money():
    return {
        "balances": sorted(Account.objects.values_list("pk", "balance", "held")),
        "ledger": LedgerEntry.objects.count(),
        "paid_thru": sorted(Order.objects.values_list("pk", "expires_on", "tenure_months")),
        "invoices": Invoice.objects.count(),
        "payments": PaymentAttempt.objects.count(),
    }


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # The poisoned sign-ins count against the sign-in throttle (the cache):
    # none may leak into another test.
    cache.clear()
    yield
    cache.clear()


def assert_still_serving(client):
    assert client.get("/healthz/live").status_code == 200


# --- The API ---


def api_operations():
    """(method, path template, operationId, request schema or None) of every
    operation that takes input, from the live schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    out = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete"):
                continue
            content = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            request = None
            if content:
                ref = content["schema"].get("$ref", "")
                request = components[ref.rsplit("/", 1)[-1]] if ref else content["schema"]
            out.append((method, path, operation["operationId"], request))
    return sorted(out, key=lambda op: op[2])


OPERATIONS = api_operations()


def body_for(operation_id: str, tenants):
    o1 = tenants.orders["o1"].pk
    bodies = {
        "token_obtain": {"username": "owner", "password": "pw"},
        "balance_update": {"auto_renew": True},
        "balance_top_up": {"amount": "10.00"},
        "customers_auto_renew_allowed": {"allowed": True},
        "orders_update": {"auto_renew": True, "do_not_renew": False, "payment_source": "balance"},
        "renewal_quote": {"items": [{"order": o1, "months": 1}], "align_day": 5},
        "renewal_pay": {
            "items": [{"order": o1, "months": 1}],
            "align_day": 5,
            "pins": {str(o1): tenants.orders["o1"].expires_on.isoformat()},
            "payment": "balance",
            "expected_total": "10.00",
            "auto_renew_next": [o1],
        },
        "webhook_endpoints_create": {"url": "https://hooks.example.com/portal", "events": ["order.renewed"]},
        "webhook_endpoints_update": {"events": ["order.renewed"], "enabled": True},
    }
    return bodies.get(operation_id)


def test_every_api_body_has_a_valid_example(tenants):
    missing = [op_id for _m, _p, op_id, request in OPERATIONS if request and body_for(op_id, tenants) is None]
    assert missing == [], f"add a valid body for {missing} to BODIES (body_for) in this module"
    assert {"renewal_pay", "balance_top_up", "orders_update"} <= {op[2] for op in OPERATIONS}


def api_client(client, tenants, path: str, operation_id: str):
    if operation_id != "token_obtain":
        login = "acme" if path.startswith(("/api/customers/", "/api/webhook-")) else "owner"
        client.force_login(tenants.users[login])
    return client


def api_path(template: str, tenants) -> str:
    return (
        template.replace("{order_id}", str(tenants.orders["o1"].pk))
        .replace("{customer_id}", str(tenants.customers["c1"].pk))
        .replace("{card_id}", "1")
        .replace("{notice_id}", "1")
        .replace("{endpoint_id}", str(acme_endpoint(tenants).pk) if "{endpoint_id}" in template else "")
        .replace("{delivery_id}", "1")
    )


def acme_endpoint(tenants):
    """An endpoint of reseller acme's, for the operations on one."""
    endpoint = Endpoint.objects.filter(reseller=tenants.resellers["acme"]).first()
    return endpoint or Endpoint.objects.create(
        reseller=tenants.resellers["acme"],
        url="https://hooks.example.com/a",
        events=["order.renewed"],
        secret="whsec_t",
    )


def send(client, method, path, text, **headers):
    data = text if isinstance(text, bytes) else text.encode()
    headers.setdefault("HTTP_IDEMPOTENCY_KEY", str(uuid.uuid4()))
    return client.generic(method.upper(), path, data, content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("method", "template", "operation_id", "request_schema"), OPERATIONS, ids=[op[2] for op in OPERATIONS]
)
def test_an_api_operation_refuses_hostile_bodies_and_changes_nothing(
    client, tenants, method, template, operation_id, request_schema
):
    client = api_client(client, tenants, template, operation_id)
    path = api_path(template, tenants)
    before = money()
    answers = []

    # A body larger than the limit: 413 in the API's shape, unread.
    response = send(client, method, path, TOO_LARGE)
    assert response.status_code == 413, operation_id
    assert response.json()["error"]["code"] == "too_large"
    # Nested past any real body: a 400, not a RecursionError.
    response = send(client, method, path, TOO_DEEP)
    # An operation without a body never reads it: any answer but a 5xx.
    assert response.status_code < 500, operation_id
    if request_schema:
        assert response.status_code == 400, (operation_id, response.content[:200])
        # Each leaf of a valid body, poisoned in turn.
        body = body_for(operation_id, tenants)
        for leaf in leaves(body):
            for name, poison in POISONS.items():
                response = send(client, method, path, dump(replaced(body, leaf, poison)))
                answers.append((f"{leaf}={name}", response))
                error = response.json().get("error", {}) if response.status_code < 500 else {}
                if error.get("code") == "invalid":
                    # The refusal names the poisoned field by its path.
                    assert any(leaf.startswith(f) or f.startswith(leaf) for f in error.get("fields", {})), (
                        operation_id,
                        leaf,
                        name,
                        error,
                    )
        # Not even JSON's shape: a list, a string, a number.
        for wrong in ("[1, 2]", '"x"', "1e309", "NaN", "\x00"):
            answers.append((wrong, send(client, method, path, wrong)))

    bad = [(what, r.status_code) for what, r in answers if not 400 <= r.status_code < 500]
    assert bad == [], operation_id
    assert money() == before
    assert_still_serving(client)
    if request_schema:
        # The body poisoned above is itself good: each refusal was its poison's.
        assert send(client, method, path, dump(body_for(operation_id, tenants))).status_code != 400


def test_an_id_past_64_bits_in_a_path_is_a_404(client, tenants):
    client.force_login(tenants.users["owner"])
    huge = "9" * 30

    response = client.patch(f"/api/orders/{huge}/", {"auto_renew": True}, content_type="application/json")

    assert response.status_code == 404


# --- The panels ---


def panel_routes(patterns=None, prefix=""):
    """(url name, path template) of every page outside the admin and the API."""
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(("admin/", "api/", "static/")):
            continue
        if isinstance(entry, URLResolver):
            yield from panel_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name, "/" + route


ROUTES = sorted(set(panel_routes()))
POST_PAGES = {
    "order-detail",
    "renew",
    "balance",
    "settings",
    "api-token-page",
    "reseller-customer",
    "cards",
    "card-add",
    "login",
    "stripe-webhook",
}


def test_the_panels_routes_are_discovered():
    assert POST_PAGES <= {name for name, _ in ROUTES}


def panel_path(template: str, tenants) -> str:
    values = {
        "<int:order_id>": tenants.orders["o1"].pk,
        "<int:customer_id>": tenants.customers["c1"].pk,
        "<int:invoice_id>": 1,
        "<int:notice_id>": 1,
        "<uidb64>": "x",
        "<token>": "x",
    }
    for param, value in values.items():
        template = template.replace(param, str(value))
    return template


# Every field a panel's form posts, in one form: each page reads its own.
FIELDS = [
    "action",
    "field",
    "value",
    "order",
    "card",
    "ref",
    "amount",
    "auto_renew",
    "align_day",
    "payment",
    "expected_total",
    "form_token",
    "setup_intent",
    "next",
    "q",
    "username",
    "password",
    "email",
]


@pytest.mark.parametrize(("name", "template"), ROUTES, ids=[name for name, _ in ROUTES])
def test_a_panel_page_refuses_hostile_forms_and_changes_nothing(client, tenants, name, template):
    client.force_login(tenants.users["acme" if name.startswith("reseller-") else "owner"])
    path = panel_path(template, tenants)
    o1 = tenants.orders["o1"].pk
    before = money()
    answers = []

    response = client.generic("POST", path, TOO_LARGE, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413, name
    answers.append(("too deep", client.generic("POST", path, TOO_DEEP, content_type="application/json")))
    for poison_name, poison in POISONS.items():
        text = str(poison) if not isinstance(poison, dict) else "{}"
        if poison is MEGABYTE_STRING:
            text = text[:100_000]  # in every field at once: under the body limit
        form = {field: text for field in FIELDS} | {"order": [text, text], f"months_{o1}": text}
        answers.append((poison_name, client.post(path, form)))
        answers.append((f"query {poison_name}", client.get(path, {"q": text, "page": text, "sort": text})))

    bad = [(what, r.status_code) for what, r in answers if r.status_code >= 500]
    assert bad == [], name
    assert money() == before
    assert_still_serving(client)


@pytest.mark.parametrize("poison", FORM_POISONS.values(), ids=FORM_POISONS.keys())
def test_the_renewal_form_refuses_each_hostile_field_and_charges_nothing(client, tenants, poison):
    client.force_login(tenants.users["owner"])
    o1 = tenants.orders["o1"].pk
    choices = {"order": [str(o1)], f"months_{o1}": "1", "align_day": "", "payment": "balance"}
    form = renewal_form(client, choices) | {"action": "pay"}
    before = money()

    for field in [f"months_{o1}", "order", "align_day", "expected_total", f"pin_{o1}", "payment"]:
        response = client.post("/renew/", {**form, field: str(poison)})
        assert response.status_code in (200, 302), (field, response.status_code)
        assert money() == before, field
    # The form itself pays (a new one: the poisoned payment was refused under
    # the first form's token): each refusal above was its poison's.
    client.post("/renew/", renewal_form(client, choices) | {"action": "pay"})
    assert money() != before


@pytest.mark.parametrize("poison", FORM_POISONS.values(), ids=FORM_POISONS.keys())
def test_the_top_up_form_refuses_a_hostile_amount(client, tenants, poison):
    client.force_login(tenants.users["owner"])
    # The page draws the form only with card payments configured; the view reads it regardless.
    form = {"form_token": f"form-{uuid.uuid4().hex}", "amount": poison}
    before = money()

    response = client.post("/balance/", form)

    assert response.status_code == 200  # the form again, with its error
    assert "amount" in response.context["form"].errors
    assert money() == before


def test_a_nested_stripe_webhook_is_a_400(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"

    response = client.post("/stripe/webhook", TOO_DEEP, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1")

    assert response.status_code == 400


def test_a_chunked_body_over_the_limit_is_a_413_without_content_length(rf, settings):
    # As an ASGI server hands it over: no Content-Length, the body spooled
    # (under WSGI, Django reads no body without a Content-Length at all).
    settings.MAX_REQUEST_BODY_BYTES = 1000
    views = []
    middleware = request_body_limit(lambda request: views.append(request.body) or HttpResponse("ok"))

    def chunked(size):
        request = rf.post("/accounts/login/", b"", content_type="application/x-www-form-urlencoded")
        request.META.pop("CONTENT_LENGTH", None)
        request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
        request._stream = io.BytesIO(b"x" * size)
        return middleware(request)

    assert chunked(1001).status_code == 413
    assert views == []
    assert chunked(1000).status_code == 200
    assert views == [b"x" * 1000]  # what was read is the body the view sees
