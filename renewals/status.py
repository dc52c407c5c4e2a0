"""What the operators' status page and ``/healthz`` read (SPEC "Faults and
bad data": operators see it all in one place).

Platform-wide reads, for platform staff only. The page reads a fixed number
of queries whatever the row counts: each list is cut at ``SHOWN`` rows (the
admin's own lists hold the rest), the runs' faults come in one query.
"""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, F, Min, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber

from core.dates import business_today
from core.isolation import first_line
from core.models import Fault
from core.queue import broker_problem
from notifications.models import DeliveryState, Notice
from payments.selectors import attempts_awaiting_decision
from renewals.facts import held_orders
from renewals.models import HookState, LifecycleEvent, OrderOutcome, RunOutcome, SweepRun
from renewals.rules import Reason
from tenants.scope import Actor

RUNS_SHOWN = 30
# Rows per list on the page; the admin's lists (linked) hold the rest.
SHOWN = 50
# Accounts held back are few in a healthy platform; a bug hitting many shows
# this many of their orders and says there are more.
HELD_ORDERS_SHOWN = 200
FAULTS_PER_RUN = 3


@dataclass(frozen=True)
class Listing:
    rows: list
    more: bool  # there are more rows than shown


def _listing(queryset, limit: int = SHOWN) -> Listing:
    rows = list(queryset[: limit + 1])
    return Listing(rows[:limit], len(rows) > limit)


# ---------------------------------------------------------------- health


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""
    facts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, **self.facts}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(str(exc))}"[:300]


def database_health() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return Check(False, _error(exc))
    return Check(True, "answers")


def broker_health() -> Check:
    """The Celery broker, when there is one (core.queue.broker_problem)."""
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return Check(True, "none configured: tasks run in-process", {"configured": False})
    problem = broker_problem()
    return Check(problem is None, problem or "answers", {"configured": True})


def nightly_health(today: datetime.date | None = None) -> Check:
    """Whether the nightly work is keeping up: the latest real run did not
    fail, and a run completed for yesterday or today (platform time zone: the
    02:00 run of today may not have happened yet). No run ever is a fresh
    install, not a failure."""
    today = today or business_today()
    try:
        last = SweepRun.objects.filter(dry_run=False).order_by("-pk").first()
        recent = (
            SweepRun.objects.filter(
                dry_run=False,
                outcome=RunOutcome.COMPLETED,
                business_date__gte=today - datetime.timedelta(days=1),
                business_date__lte=today,
            )
            .order_by("-business_date")
            .values_list("business_date", flat=True)
            .first()
        )
    except Exception as exc:  # noqa: BLE001 - the database check says why
        return Check(False, f"cannot read the runs: {_error(exc)}")
    if last is None:
        return Check(True, "no nightly run yet", {"last_run": None, "completed_recently": False})
    facts = {
        "last_run": {
            "business_date": last.business_date.isoformat(),
            "outcome": last.outcome,
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
        },
        "completed_recently": recent is not None,
    }
    if last.outcome == RunOutcome.FAILED:
        return Check(False, f"the last run ({last.business_date}) failed: {first_line(last.error)}"[:300], facts)
    if recent is None:
        yesterday = today - datetime.timedelta(days=1)
        detail = f"no run completed for {yesterday} or {today}; the last is {last.business_date} ({last.outcome})"
        return Check(False, detail, facts)
    return Check(True, f"the run for {recent} completed", facts)


def health() -> tuple[bool, dict]:
    """``/healthz``: the database, the broker (when configured) and the
    nightly run; healthy when all three are."""
    checks = {"database": database_health(), "broker": broker_health()}
    checks["nightly_run"] = nightly_health() if checks["database"].ok else Check(False, "the database does not answer")
    ok = all(check.ok for check in checks.values())
    return ok, {"status": "ok" if ok else "failing", "checks": {name: c.as_dict() for name, c in checks.items()}}


# ---------------------------------------------------------------- the chart


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    kind: str  # a CSS class: completed, failed, running, renewed, failed-batches
    title: str


@dataclass(frozen=True)
class Label:
    x: int
    y: int
    text: str


@dataclass(frozen=True)
class RunsChart:
    """Two small bar charts over the same nights, left to right: each run's
    duration, and its accounts renewed and failed. Coordinates in SVG units,
    computed here so the template only draws."""

    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    max_seconds: int
    max_accounts: int
    duration_top: int
    counts_top: int
    plot_height: int
    left: int

    @property
    def duration_base(self) -> int:
        return self.duration_top + self.plot_height

    @property
    def counts_base(self) -> int:
        return self.counts_top + self.plot_height

    @property
    def right(self) -> int:
        return self.width - 4


CHART_LEFT = 56
CHART_SLOT = 22
CHART_PLOT = 70
CHART_GAP = 26
CHART_DATES = 34


def _scaled(value: int, top: int) -> int:
    # At least a hairline for any non-zero value, so a small night still shows.
    if value <= 0 or top <= 0:
        return 0
    return max(1, round(value * CHART_PLOT / top))


def runs_chart(runs: list[SweepRun]) -> RunsChart:
    """``runs`` oldest first."""
    duration_top = 14
    counts_top = duration_top + CHART_PLOT + CHART_GAP
    base_durations = duration_top + CHART_PLOT
    base_counts = counts_top + CHART_PLOT
    max_ms = max([r.duration_ms or 0 for r in runs] + [1000])
    max_seconds = -(-max_ms // 1000)  # rounded up, so every bar fits under it
    max_accounts = max([max(r.batches_renewed, r.batches_failed) for r in runs] + [1])
    bars: list[Bar] = []
    labels: list[Label] = []
    for index, run in enumerate(runs):
        x = CHART_LEFT + index * CHART_SLOT
        day = run.business_date.isoformat()
        if run.outcome == RunOutcome.COMPLETED:
            height = _scaled(run.duration_ms or 0, max_seconds * 1000)
            title = f"{day}: {(run.duration_ms or 0) / 1000:.1f} s"
        else:
            # A run that failed or never finished has no duration: a full-height
            # band in its colour, so it cannot be missed.
            height = CHART_PLOT
            title = f"{day}: {run.get_outcome_display().lower()}"
        bars.append(Bar(x + 2, base_durations - height, CHART_SLOT - 4, height, run.outcome, title))
        for offset, value, kind, words in (
            (2, run.batches_renewed, "renewed", "accounts renewed"),
            (CHART_SLOT // 2, run.batches_failed, "failed-batches", "accounts failed"),
        ):
            height = _scaled(value, max_accounts)
            bars.append(
                Bar(x + offset, base_counts - height, CHART_SLOT // 2 - 2, height, kind, f"{day}: {value} {words}")
            )
        labels.append(Label(x + CHART_SLOT // 2, base_counts + 10, run.business_date.strftime("%m-%d")))
    width = CHART_LEFT + max(len(runs), 1) * CHART_SLOT + 8
    return RunsChart(
        width=width,
        height=base_counts + CHART_DATES,
        bars=bars,
        labels=labels,
        max_seconds=max_seconds,
        max_accounts=max_accounts,
        duration_top=duration_top,
        counts_top=counts_top,
        plot_height=CHART_PLOT,
        left=CHART_LEFT,
    )


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class RunLine:
    run: SweepRun
    faults: list[Fault]
    fault_count: int


@dataclass
class HeldAccount:
    customer: object  # tenants.Customer
    orders: list = field(default_factory=list)
    since: datetime.date | None = None  # the earliest of its orders'


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest: datetime.datetime | None


@dataclass(frozen=True)
class PlatformStatus:
    nightly: Check
    runs: list[RunLine]
    chart: RunsChart
    awaiting: Listing  # PaymentAttempts with ``flagged``, the flagged first
    failed_notices: Listing
    failed_hooks: Listing
    backlog: Backlog
    held: list[HeldAccount]
    held_more: bool
    open_faults: Listing


def platform_status(*, actor: Actor) -> PlatformStatus:
    """Everything the status page shows, in a fixed number of queries:
    the runs, their faults, the attempts awaiting a decision, the failed
    notices, the failed hooks, the outbox backlog, the held orders, the open
    faults, and the two of the nightly verdict."""
    if not actor.sees_everything:  # reseller staff may hold the admin flag; this is the platform's
        raise PermissionDenied("the status page is for platform staff")
    return PlatformStatus(
        nightly=nightly_health(),
        **_runs(),
        awaiting=_awaiting(),
        failed_notices=_listing(
            Notice.objects.filter(state=DeliveryState.FAILED).select_related("customer").order_by("created_at", "pk")
        ),
        failed_hooks=_listing(
            LifecycleEvent.objects.filter(hook_state=HookState.FAILED).select_related("order").order_by("pk")
        ),
        backlog=_backlog(),
        **_held(),
        open_faults=_listing(Fault.objects.filter(resolved_at__isnull=True).order_by("-business_date", "-pk")),
    )


def _runs() -> dict:
    runs = list(SweepRun.objects.filter(dry_run=False).order_by("-pk")[:RUNS_SHOWN])
    faults: dict[int, list[Fault]] = {}
    counts: dict[int, int] = {}
    if runs:
        # The first few faults of each run and each run's count, in one query.
        rows = (
            Fault.objects.filter(run_id__in=[run.pk for run in runs])
            .annotate(
                rank=Window(RowNumber(), partition_by=[F("run_id")], order_by=F("pk").asc()),
                in_run=Window(Count("pk"), partition_by=[F("run_id")]),
            )
            .filter(rank__lte=FAULTS_PER_RUN)
            .order_by("run_id", "pk")
        )
        for fault in rows:
            faults.setdefault(fault.run_id, []).append(fault)
            counts[fault.run_id] = fault.in_run
    lines = [RunLine(run, faults.get(run.pk, []), counts.get(run.pk, 0)) for run in runs]
    return {"runs": lines, "chart": runs_chart(list(reversed(runs)))}


def _backlog() -> Backlog:
    pending = Notice.objects.filter(state=DeliveryState.PENDING)
    return Backlog(**pending.aggregate(pending=Count("pk"), oldest=Min("created_at")))


def _awaiting() -> Listing:
    listing = _listing(attempts_awaiting_decision().select_related("account__customer"))
    # Oldest first already puts the flagged first; sorted here so it stays true.
    return Listing(sorted(listing.rows, key=lambda attempt: not attempt.flagged), listing.more)


def _held() -> dict:
    # Since when: the first internal error of the order's current cycle.
    since = (
        OrderOutcome.objects.filter(order_id=OuterRef("pk"), cycle=OuterRef("expires_on"), reason=Reason.INTERNAL_ERROR)
        .order_by("business_date")
        .values("business_date")[:1]
    )
    orders = (
        held_orders().select_related("customer").annotate(since=Subquery(since)).order_by("customer_id", "ref", "pk")
    )
    listing = _listing(orders, HELD_ORDERS_SHOWN)
    accounts: dict[int, HeldAccount] = {}
    for order in listing.rows:
        account = accounts.setdefault(order.customer_id, HeldAccount(order.customer))
        account.orders.append(order)
        if order.since and (account.since is None or order.since < account.since):
            account.since = order.since
    return {"held": list(accounts.values()), "held_more": listing.more}
