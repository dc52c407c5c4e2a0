"""The page benchmark's load: gunicorn on a free loopback port, the panels
signed in as a browser would (session cookie and CSRF token), the API with a
knox token, N requests per page after a warm-up, and p50/p95/max per page;
plus the queries a page costs, counted in-process on the same data."""

import logging
import math
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

ROOT = Path(settings.BASE_DIR)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
STARTUP_SECONDS = 60


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    who: str  # "customer" or "reseller": whose login asks
    api: bool = False  # with the login's API token instead of its session


PAGES = [
    Page("orders", "/orders/", "customer"),
    Page("orders-page-100", "/orders/?page=100", "customer"),
    Page("renewals-manual", "/renewals/?tab=manual", "customer"),
    Page("renewals-auto", "/renewals/?tab=auto", "customer"),
    Page("reseller-customers", "/reseller/", "reseller"),
    Page("reseller-failing", "/reseller/?failing=1", "reseller"),
    Page("api-orders", "/api/orders/", "customer", api=True),
    Page("api-orders-reseller", "/api/orders/", "reseller", api=True),
]


@dataclass(frozen=True)
class Stats:
    page: str
    requests: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    queries: int | None = None
    bytes: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least
    ``share`` of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summarise(page: str, seconds: list[float], *, queries: int | None = None, size: int = 0) -> Stats:
    ms = [s * 1000 for s in seconds]
    return Stats(
        page=page,
        requests=len(ms),
        p50_ms=round(percentile(ms, 0.50), 1),
        p95_ms=round(percentile(ms, 0.95), 1),
        max_ms=round(max(ms), 1),
        queries=queries,
        bytes=size,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(*, conn_max_age: int) -> dict:
    """The environment of the benchmarked server: the configured database,
    DEBUG off (as in production), plain HTTP on loopback, no API throttle in
    the way of the load, no broker (nothing is queued by these pages)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-pages-scratch-only",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        API_RATE_USER="100000000/hour",
        DB_CONN_MAX_AGE=str(conn_max_age),
        LOG_LEVEL="WARNING",
    )
    env.setdefault("DJANGO_SETTINGS_MODULE", "billing_portal.settings")
    return env


class Gunicorn:
    """gunicorn serving the portal on loopback for the length of a ``with``."""

    def __init__(self, *, workers: int, conn_max_age: int, root: Path = ROOT):
        self.root = root  # another checkout of the portal (the code before a change), same database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            sys.executable, "-m", "gunicorn", "billing_portal.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--log-level", "warning",
        ]  # fmt: skip
        self.env = server_env(conn_max_age=conn_max_age)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        # DEBUG off serves the hashed static files' manifest (whitenoise), as in production.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=self.root,
            env=self.env,
            check=True,
        )
        self.process = subprocess.Popen(self.command, cwd=self.root, env=self.env)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode} before answering")
            try:
                if httpx.get(f"{self.url}/healthz/live", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not answer within {STARTUP_SECONDS} s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def signed_in(url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client signed in to the panels as a browser is: the login
    form's CSRF cookie and token, then the session cookie."""
    client = httpx.Client(base_url=url, timeout=60)
    client.get("/accounts/login/").raise_for_status()
    token = client.cookies["csrftoken"]
    answer = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
    )
    if answer.status_code != 302 or "sessionid" not in client.cookies:
        raise RuntimeError(f"could not sign in as {username}: HTTP {answer.status_code}")
    return client


def timed(client: httpx.Client, path: str, headers: dict) -> tuple[float, int]:
    started = time.perf_counter()
    answer = client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path}: HTTP {answer.status_code}")
    return elapsed, len(answer.content)


def load(url: str, data, pages=PAGES, *, requests: int, warmup: int, concurrency: int) -> list[tuple]:
    """[(page name, [seconds], bytes)]: ``requests`` timed GETs of each page
    (``concurrency`` at a time) after ``warmup`` untimed ones, page after page."""
    clients = {who: signed_in(url, getattr(data, f"{who}_login"), data.password) for who in ("customer", "reseller")}
    # The API with the token alone: no session cookie.
    clients["api"] = httpx.Client(base_url=url, timeout=60)
    results = []
    try:
        for page in pages:
            client = clients["api" if page.api else page.who]
            headers = {"Authorization": f"Token {getattr(data, f'{page.who}_token')}"} if page.api else {}
            for _ in range(warmup):
                timed(client, page.path, headers)
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                answers = list(pool.map(timed, [client] * requests, [page.path] * requests, [headers] * requests))
            results.append((page.name, [a[0] for a in answers], answers[-1][1]))
    finally:
        for client in clients.values():
            client.close()
    return results


def queries_per_page(data, pages=PAGES) -> dict[str, int]:
    """How many queries each page sends, counted in this process (Django's
    test client, on the same data): gunicorn's workers cannot tell us."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    counts = {}
    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, DEBUG=False):
        for page in pages:
            client = Client()
            username = getattr(data, f"{page.who}_login")
            extra = {}
            if page.api:
                extra["HTTP_AUTHORIZATION"] = f"Token {getattr(data, f'{page.who}_token')}"
            else:
                client.force_login(users.get(username=username))
            with CaptureQueriesContext(connection) as captured:
                answer = client.get(page.path, **extra)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {page.path}: HTTP {answer.status_code}")
            counts[page.name] = len(captured)
    return counts
