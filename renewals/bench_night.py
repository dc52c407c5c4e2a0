"""The whole night's benchmark (``bench_sweep --whole-night``): a synthetic
portal where a share of the accounts is in each state the nightly run meets
on one business date, the real run for that date (renewals.sweep.run.sweep_run:
lifecycle, sweep, the notices of the schedule), and its figures: seconds per
phase, heard through the run's own ``progress(phase, done, total)``.

Every account has 3 orders (the last may have fewer) of one monthly plan
(lead 7 days) in a hosting category (grace 15 days), all in one state:

- renew: due (paid thru D..D+7), auto-renew, the balance covers them: renewed.
- fail: due, nothing on the balance: failed (insufficient_funds), with the
  first failure's or the last chance's notices, and a reminder for those
  paid thru D+7 or D+1 (failed this cycle).
- suspend: active, paid thru D-1: suspended tonight.
- grace: suspended (with the suspension's event), paid thru D-15..D-2: in
  grace; those paid thru D-13 end it in 3 days (termination warning).
- terminate: suspended, paid thru D-45..D-16: terminated tonight.
- advance: auto-renew, paid thru D+10: the window opens in 3 days (advance notice).
- remind: auto-renew off, paid thru D+30, D+7 or D+1: a reminder per day
  (those in the window are skipped by the sweep too).
- later: auto-renew, paid thru D+40..D+300: nothing tonight.
- gone: terminated long ago.

The shares make a heavy night (the first of a month, when most orders
renew) so that the sweep's share of the night is what it is at its worst.
"""

import datetime
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from catalog.models import Category
from notifications.models import Notice
from orders.models import Order
from renewals.bench import BALANCE, _load, _next_id, load_accounts, load_seller, peak_rss_mb, statements_counted
from renewals.invariants import invariant_violations
from renewals.models import BatchOutcome, LifecycleEvent, OpenRenewal, OrderOutcome, SweepRun, Transition
from renewals.reminders import ADVANCE_DAYS, WARNING_DAYS
from renewals.rules import SHORT_LEAD_DAYS, SUSPENDED_AFTER_DAYS
from tenants.models import Customer

ORDERS_PER_ACCOUNT = 3
GRACE_DAYS = 15
REMINDER_DAYS = (30, 7, 1)
# The share of accounts in each state (see the module's docstring).
SHARES = {
    "renew": 0.55,
    "fail": 0.08,
    "suspend": 0.04,
    "grace": 0.06,
    "terminate": 0.04,
    "advance": 0.06,
    "remind": 0.06,
    "later": 0.06,
    "gone": 0.05,
}
STATES = tuple(SHARES)
# The phases of the run as its progress callback names them, in order.
PHASES = (
    "lifecycle", "sweep", "open_renewals", "advance_notices", "reminders", "termination_warnings",
    "card_expiry_warnings",
)  # fmt: skip
_NOTICE_PHASES = PHASES[3:6]


def _state_of(rng: random.Random) -> str:
    return rng.choices(STATES, weights=[SHARES[s] for s in STATES])[0]


def _expiry(state: str, on: datetime.date, rng: random.Random) -> datetime.date:
    days = {
        "renew": lambda: rng.randint(0, SHORT_LEAD_DAYS),
        "fail": lambda: rng.randint(0, SHORT_LEAD_DAYS),
        "suspend": lambda: -SUSPENDED_AFTER_DAYS,
        "grace": lambda: -rng.randint(2, GRACE_DAYS),
        "terminate": lambda: -rng.randint(GRACE_DAYS + 1, 45),
        "advance": lambda: ADVANCE_DAYS + SHORT_LEAD_DAYS,
        "remind": lambda: rng.choice(REMINDER_DAYS),
        "later": lambda: rng.randint(40, 300),
        "gone": lambda: -rng.randint(60, 400),
    }[state]()
    return on + datetime.timedelta(days=days)


def _status(state: str) -> str:
    return {"grace": "suspended", "terminate": "suspended", "gone": "terminated"}.get(state, "active")


def _portal(orders: int, seed: int, on: datetime.date) -> Iterator[tuple[int, int, str, datetime.date]]:
    """(order number, account number, state, paid-thru date) of every order,
    the same sequence for the same seed (each table's pass draws it anew, so
    nothing of it is held)."""
    rng = random.Random(seed)
    state = ""
    for n in range(orders):
        account = n // ORDERS_PER_ACCOUNT
        if n % ORDERS_PER_ACCOUNT == 0:
            state = _state_of(rng)
        yield n, account, state, _expiry(state, on, rng)


def expected_outcomes(orders: int, seed: int, on: datetime.date) -> dict:
    """What the night must do on the portal built from ``orders`` and
    ``seed`` (by SPEC's rules, counted apart from the code that does it)."""
    accounts: dict[int, list] = {}
    counts: Counter = Counter()
    reminded: set = set()
    terminate_on = on + datetime.timedelta(days=WARNING_DAYS)

    def close(state: str, expiries: list[datetime.date]) -> None:
        if state == "renew":
            counts["renewal_succeeded"] += 1
            counts["renewal_completed"] += 1
        if state == "fail":
            counts["reseller_failure"] += 1
            if on in expiries:
                counts["renewal_last_chance"] += 1
            if any(e != on for e in expiries):
                counts["renewal_failed"] += 1
        if state == "advance":
            counts["advance_notice"] += 1

    previous = None
    for _n, account, state, expires in _portal(orders, seed, on):
        if account != previous and previous is not None:
            close(*accounts.pop(previous))
        accounts.setdefault(account, (state, []))[1].append(expires)
        previous = account
        counts[f"orders_{state}"] += 1
        if state == "grace" and expires + datetime.timedelta(days=SUSPENDED_AFTER_DAYS + GRACE_DAYS) == terminate_on:
            counts["termination_warning"] += 1
        if state in ("fail", "remind") and (expires - on).days in REMINDER_DAYS:
            reminded.add((account, expires))
        if state == "remind" and (expires - on).days <= SHORT_LEAD_DAYS:
            counts["skipped"] += 1
    if previous is not None:
        close(*accounts.pop(previous))
    counts["renewal_reminder"] = len(reminded)
    counts["suspended"] = counts["orders_suspend"]
    counts["terminated"] = counts["orders_terminate"]
    waiting = counts["orders_fail"] + counts["skipped"]
    return {
        "renewed": counts["orders_renew"],
        "failed": counts["orders_fail"],
        "skipped": counts["skipped"],
        "suspended": counts["orders_suspend"],
        "terminated": counts["orders_terminate"],
        "orders_by_state": {s: counts[f"orders_{s}"] for s in STATES},
        # Every order in its window has its open renewal tonight (SPEC "Open renewals"): closed
        # with the invoice for those the sweep renewed, open for the others.
        "open_renewals": {k: n for k, n in (("closed", counts["orders_renew"]), ("open", waiting)) if n},
        "notices": {
            kind: counts[kind]
            for kind in (
                "advance_notice", "renewal_succeeded", "renewal_completed", "renewal_failed", "renewal_last_chance",
                "reseller_failure", "renewal_reminder", "suspended", "termination_warning", "terminated",
            )
            if counts[kind]
        },
    }  # fmt: skip


def build_night(*, orders: int, seed: int, on: datetime.date) -> dict:
    """Load the portal (COPY on PostgreSQL, through renewals.bench's loader)."""
    tag = f"n{seed}-{timezone.now():%H%M%S%f}"
    category, _ = Category.objects.get_or_create(
        ref="bench-night-hosting", defaults={"name": "Bench night", "grace_days": GRACE_DAYS}
    )
    accounts = (orders + ORDERS_PER_ACCOUNT - 1) // ORDERS_PER_ACCOUNT
    first_customer = _next_id(Customer)
    now = timezone.now()
    customer_ids = range(first_customer, first_customer + accounts)
    plan = load_seller(tag, category, customer_ids, now, email_domain="bench.test")

    def states() -> Iterator[tuple[int, str]]:
        for n, account, state, _expires in _portal(orders, seed, on):
            if n % ORDERS_PER_ACCOUNT == 0:
                yield first_customer + account, state

    # A failing account has nothing on its balance (and no opening entry).
    load_accounts(
        lambda: ((i, Decimal("0.00") if state == "fail" else BALANCE) for i, state in states()), on=on, now=now
    )
    first_order = _next_id(Order)
    _load(
        Order,
        ["id", "ref", "customer_id", "plan_id", "tenure_months", "expires_on", "anchor_day", "status", "auto_renew",
         "auto_renew_locked", "payment_source", "locked", "stopped", "pending_action", "do_not_renew",
         "created_at", "updated_at"],
        ((first_order + n, f"{tag}-o{n}", first_customer + account, plan.pk, 1, expires, expires.day,
          _status(state), state != "remind", False, "balance", False, False, False, False, now, now)
         for n, account, state, expires in _portal(orders, seed, on)),
    )  # fmt: skip
    # The suspensions of the orders in grace or past it, each the day after its paid-thru date.
    suspended_after = datetime.timedelta(days=SUSPENDED_AFTER_DAYS)
    _load(
        LifecycleEvent,
        ["order_id", "transition", "origin", "cycle", "business_date", "created_at", "hook_state", "hook_attempts",
         "hook_error"],
        ((first_order + n, Transition.SUSPEND, "nightly", expires, expires + suspended_after, now, "done", 1, "")
         for n, _account, state, expires in _portal(orders, seed, on) if state in ("grace", "terminate")),
    )  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"orders": orders, "accounts": accounts, "tag": tag}


class PhaseClock:
    """A ``progress`` callback that times the run's phases: each call ends a
    piece of the phase it names (the run reports them in order), and the
    time since the previous call is that phase's. Then it hands the call on
    (to the terminal's bars), outside the clock."""

    def __init__(self, forward: Callable[[str, int, int | None], None] | None = None):
        self.forward = forward
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.heard: set[str] = set()
        self.last = time.perf_counter()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        name = _NOTICE_PHASES[done - 1] if phase == "notices" else "sweep" if phase == "accounts" else phase
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.heard.add(name)
        if self.forward:
            self.forward(phase, done, total)
        self.last = time.perf_counter()


def whole_night_command(command, options: dict, on: datetime.date, progress) -> None:
    """``bench_sweep --whole-night``: run the bench and print its figures
    (a line of text, or JSON with ``--json``); broken invariants fail it."""
    import json

    from django.core.management.base import CommandError

    figures = whole_night(orders=options["orders"], seed=options["seed"], on=on, progress=progress)
    progress.close()  # the bars end before the figures are printed
    problems = figures.pop("problems")
    if options["json"]:
        command.stdout.write(json.dumps(figures, default=str))
    else:
        phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in figures["phases"].items())
        command.stdout.write(
            f"built in {figures['build_seconds']:.1f} s; {figures['orders']} orders, {figures['accounts']} accounts; "
            f"night {figures['seconds']:.2f} s ({phases}); statements={figures['queries']}, "
            f"peak_rss_mb={figures['peak_rss_mb']}; renewed={figures['renewed']}, failed={figures['failed']}, "
            f"skipped={figures['skipped']}, suspended={figures['suspended']}, terminated={figures['terminated']}; "
            f"notices {figures['notices']}; invariants_ok={figures['invariants_ok']}"
        )
    for problem in problems:
        command.stderr.write(problem)
    if problems:
        raise CommandError("invariants broken", returncode=1)


def whole_night(*, orders: int, seed: int, on: datetime.date, progress=None) -> dict:
    """Build the portal, run the night for ``on`` and return its figures."""
    built_at = time.perf_counter()
    build_night(orders=orders, seed=seed, on=on)
    figures = night_figures(orders=orders, seed=seed, on=on, progress=progress)
    return {"build_seconds": round(time.perf_counter() - built_at - figures["seconds"], 1), **figures}


def night_figures(*, orders: int, seed: int, on: datetime.date, progress=None) -> dict:
    """Run the night for ``on`` on the portal built from ``orders`` and
    ``seed`` and return its figures, with what they should be."""
    from renewals.sweep.run import sweep_run

    clock = PhaseClock(progress or None)
    with statements_counted() as statements:
        started = clock.last = time.perf_counter()
        sweep_run(on=on, build_report=False, progress=clock)
        seconds = time.perf_counter() - started
    run = SweepRun.objects.filter(business_date=on, dry_run=False).latest("pk")
    phases = {name: round(clock.seconds[name], 3) for name in PHASES}
    phases["finish"] = round(max(0.0, seconds - sum(clock.seconds.values())), 3)
    notices = Notice.objects.filter(business_date=on).values_list("kind").annotate(n=Count("pk")).order_by()
    failed = OrderOutcome.objects.filter(run=run, outcome=BatchOutcome.FAILED).count()
    # Opened tonight for each order in its window: closed by the sweep's renewals, open for the rest.
    open_renewals = OpenRenewal.objects.filter(created_on=on).values_list("status").annotate(n=Count("pk")).order_by()
    peak_rss = peak_rss_mb()  # the night's, before the invariants' check (the benchmark's)
    problems = invariant_violations()
    return {
        "orders": orders,
        "accounts": (orders + ORDERS_PER_ACCOUNT - 1) // ORDERS_PER_ACCOUNT,
        "seconds": round(seconds, 3),
        "phases": phases,
        "phases_heard": sorted(clock.heard),
        "queries": statements.total,
        "peak_rss_mb": peak_rss,
        "renewed": run.orders_renewed,
        "failed": failed,
        "skipped": run.orders_skipped,
        "suspended": run.suspended,
        "terminated": run.terminated,
        "notices": dict(sorted(notices)),
        "open_renewals": dict(sorted(open_renewals)),
        "expected": expected_outcomes(orders, seed, on),
        "invariants_ok": not problems,
        "problems": problems,
    }
