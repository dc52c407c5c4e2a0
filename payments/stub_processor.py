"""A local stand-in for Stripe, for benchmarks and tests of the card path
under load (``manage.py bench_cards``): an HTTP server in a thread that
answers the requests the portal's card path makes with Stripe-shaped JSON,
after ``latency_ms``, and counts what it saw.

It answers: PaymentIntents (create, with ``confirm=true`` or not; confirm;
retrieve; list; search by customer and the attempt id in the metadata),
Customers (create) and PaymentMethods (retrieve, attach). A payment method
whose id holds ``decline`` is declined at charge. Idempotency keys are
honoured as Stripe honours them (the same key answers the same reply).

Rate limits, like Stripe's: ``limit_per_second`` answers 429 to a request
that would be more than that many in the last second (Stripe's test mode:
25), ``rate_limited`` answers 429 to that share of the requests at random,
and ``rate_limit_next(n)`` to the next ``n``. A 429 does nothing.

Counts for the caller: ``in_flight`` and ``peak_in_flight`` (requests being
answered at once), ``arrivals`` (each request's ``time.monotonic()``, 429s
included), ``rate_limited_count``, ``charges`` (intents that succeeded).
``hold_until_in_flight=n`` keeps each request waiting until ``n`` have been
in flight at once (or ``HOLD_SECONDS`` passed): a test's way to see that
the caller does send ``n`` at once without timing it.
"""

import itertools
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HOLD_SECONDS = 10.0


class StubProcessor:
    def __init__(
        self,
        *,
        latency_ms: float = 0,
        limit_per_second: int = 0,
        rate_limited: float = 0.0,
        hold_until_in_flight: int = 0,
        seed: int = 1,
    ):
        self.latency = latency_ms / 1000
        self.limit_per_second = limit_per_second
        self.rate_limited = rate_limited
        self.hold_until_in_flight = hold_until_in_flight
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._limit_next = 0
        self.intents: dict[str, dict] = {}
        self._replies: dict[str, tuple[int, dict]] = {}  # idempotency key -> reply
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rate_limited_count = 0
        self._server: ThreadingHTTPServer | None = None

    # --- running it ---

    def start(self) -> str:
        """Serve on a free loopback port; the ``api_base`` to point Stripe at."""
        handler = type("Handler", (_Handler,), {"stub": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        server.daemon_threads = True
        server.request_queue_size = 256  # many sweep threads connect at once
        server.server_bind()
        server.server_activate()
        self._server = server
        threading.Thread(target=server.serve_forever, name="stub-processor", daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StubProcessor":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def rate_limit_next(self, n: int) -> None:
        with self._lock:
            self._limit_next += n

    @property
    def charges(self) -> int:
        with self._lock:
            return sum(1 for intent in self.intents.values() if intent["status"] == "succeeded")

    def max_in_one_second(self) -> int:
        """The most requests that arrived within any one second."""
        times = sorted(self.arrivals)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    # --- answering ---

    def _arrive(self) -> bool:
        """Count a request in; whether it is answered 429."""
        with self._lock:
            now = time.monotonic()
            recent = sum(1 for at in self.arrivals[-self.limit_per_second :] if now - at < 1.0)
            self.arrivals.append(now)
            limited = self._limit_next > 0 or (self.limit_per_second and recent >= self.limit_per_second)
            limited = limited or (self.rate_limited and self._random.random() < self.rate_limited)
            if limited:
                self._limit_next = max(0, self._limit_next - 1)
                self.rate_limited_count += 1
                return True
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._lock.notify_all()
            if self.hold_until_in_flight:
                self._lock.wait_for(lambda: self.peak_in_flight >= self.hold_until_in_flight, timeout=HOLD_SECONDS)
            return False

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def answer(self, method: str, path: str, params: dict, key: str) -> tuple[int, dict]:
        with self._lock:
            if key and key in self._replies:
                return self._replies[key]
        status, body = self._route(method, path, params)
        with self._lock:
            if key and method == "POST":
                self._replies[key] = (status, body)
        return status, body

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # without "v1"
        if parts[:1] == ["payment_intents"]:
            if method == "POST" and len(parts) == 1:
                return self._intent_create(params)
            if method == "GET" and parts[1:] == ["search"]:
                found = self._search(params.get("query", ""))
                return 200, {"object": "search_result", "data": found, "has_more": False}
            if method == "GET" and len(parts) == 1:
                return 200, {"object": "list", "url": "/v1/payment_intents", "data": self._all(), "has_more": False}
            intent = self.intents.get(parts[1]) if len(parts) > 1 else None
            if intent is None:
                return _missing("payment_intent")
            if method == "POST" and parts[2:] == ["confirm"]:
                return self._confirm(intent)
            if method == "GET" and len(parts) == 2:
                return 200, intent
        if parts[:1] == ["customers"] and method == "POST":
            return 200, {"id": f"cus_stub{next(self._ids)}", "object": "customer", "email": params.get("email")}
        if parts[:1] == ["payment_methods"] and len(parts) >= 2:
            return 200, {
                "id": parts[1],
                "object": "payment_method",
                "type": "card",
                "customer": params.get("customer"),
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2040},
            }
        return _missing("resource")

    def _intent_create(self, params: dict) -> tuple[int, dict]:
        intent = {
            "id": f"pi_stub{next(self._ids)}",
            "object": "payment_intent",
            "amount": int(params.get("amount", 0)),
            "currency": params.get("currency", "usd"),
            "customer": params.get("customer"),
            "payment_method": params.get("payment_method"),
            "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
            "status": "requires_confirmation",
            "last_payment_error": None,
            "created": int(time.time()),
        }
        with self._lock:
            self.intents[intent["id"]] = intent
        if params.get("confirm") == "true":
            return self._confirm(intent)
        return 200, intent

    def _confirm(self, intent: dict) -> tuple[int, dict]:
        if intent["status"] != "requires_confirmation":
            return 400, {"error": {"type": "invalid_request_error", "message": f"intent is {intent['status']}"}}
        if "decline" in (intent["payment_method"] or ""):
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"message": "Your card was declined.", "code": "card_declined"}
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "payment_intent": intent,
            }
            return 402, {"error": error}
        intent["status"] = "succeeded"
        return 200, intent

    def _all(self) -> list[dict]:
        with self._lock:
            return list(self.intents.values())

    def _search(self, query: str) -> list[dict]:
        customer = re.search(r"customer:'([^']*)'", query)
        attempt = re.search(r"metadata\['attempt'\]:'([^']*)'", query)
        return [
            intent
            for intent in self._all()
            if (customer is None or intent["customer"] == customer.group(1))
            and (attempt is None or intent["metadata"].get("attempt") == attempt.group(1))
        ]


def _missing(what: str) -> tuple[int, dict]:
    return 404, {"error": {"type": "invalid_request_error", "message": f"No such {what}", "code": "resource_missing"}}


RATE_LIMITED = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly (stub processor).",
    }
}


class _Handler(BaseHTTPRequestHandler):
    stub: StubProcessor
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's sessions reuse their connections

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        params = dict(parse_qsl(body if method == "POST" else url.query, keep_blank_values=True))
        if self.stub._arrive():
            self._reply(429, RATE_LIMITED)
            return
        try:
            if self.stub.latency:
                time.sleep(self.stub.latency)
            status, reply = self.stub.answer(method, url.path, params, self.headers.get("Idempotency-Key") or "")
        finally:
            self.stub._leave()
        self._reply(status, reply)

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_stub{id(body)}")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # quiet: a benchmark makes thousands of requests
