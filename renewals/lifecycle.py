"""The order lifecycle of the nightly run (SPEC "Orders"): suspended the day
after the paid-thru date, terminated the day after the category's grace ends,
each transition recorded once (unique per order, transition and cycle) with
its notice, the provisioning hook run after commit.

``lifecycle_plan`` says what a run for a date would do; the real run applies
exactly that plan, the dry-run reports it.
"""

import datetime
import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from catalog.models import Category, product_label
from core.isolation import Subject, each, isolated
from core.models import Stage
from core.queue import enqueue_on_commit
from core.sql import db_now, insert_rows
from notifications.content import order_row
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from orders.services import order_status_audit_many
from orders.states import OrderStatus, check_transition
from renewals.claims import claimed_orders_all
from renewals.events import moved_events
from renewals.facts import held_orders, terminated_q
from renewals.models import EventOrigin, HookState, LifecycleEvent, OrderOutcome, Transition
from renewals.open import open_renewals_cancel
from renewals.provisioning import provisioning_hook
from renewals.rules import Reason, termination_day
from tenants.scope import Actor

log = logging.getLogger("renewals.lifecycle")
CHUNK = 2000
MAX_HOOK_ATTEMPTS = 10
HOOK_CHUNK = 100  # hooks claimed, loaded and marked done together


@dataclass(frozen=True)
class Move:
    order_id: int
    order_ref: str
    customer_id: int
    reseller_id: int
    email: str
    cycle: datetime.date
    frm: str
    to: str
    product: str = ""
    terminate_on: datetime.date | None = None  # the day after the grace ends

    @property
    def transition(self) -> str:
        return Transition.SUSPEND if self.to == OrderStatus.SUSPENDED else Transition.TERMINATE


_COLUMNS = (
    "pk", "ref", "customer_id", "customer__reseller_id", "customer__email", "expires_on", "plan__name",
    "tenure_months", "plan__category_id",
)  # fmt: skip


def lifecycle_plan(on: datetime.date) -> list[Move]:
    """Suspensions (active, paid-thru date passed) and terminations (grace over),
    in the order they apply; an order that is both past expiry and past grace
    is suspended and terminated in the same run, unless it was held back by
    an internal error this cycle: its grace then runs from its suspension."""
    graces = dict(Category.objects.values_list("pk", "grace_days"))
    moves = []
    # An order held back by an internal error waits for an operator, not the lifecycle.
    expired = Order.objects.filter(status=OrderStatus.ACTIVE, expires_on__lt=on).exclude(
        pk__in=held_orders().values("pk")
    )
    suspended = Order.objects.filter(status=OrderStatus.SUSPENDED, expires_on__lt=on)
    # Past the grace after the paid-thru date and after this cycle's suspension.
    past_grace = terminated_q(on, graces, exact=False)

    def move(row, frm: str, to: str) -> Move:
        pk, ref, customer_id, reseller_id, email, expires_on, plan, months, category_id = row
        # A suspension made now: its grace runs from today at the earliest.
        terminate_on = termination_day(expires_on, graces[category_id], suspended_on=on)
        return Move(
            pk, ref, customer_id, reseller_id, email, expires_on, frm, to, product_label(plan, months), terminate_on
        )

    for row in expired.order_by("pk").values_list(*_COLUMNS):
        moves.append(move(row, OrderStatus.ACTIVE, OrderStatus.SUSPENDED))
    if graces:
        was_held = OrderOutcome.objects.filter(
            order_id=OuterRef("pk"), cycle=OuterRef("expires_on"), reason=Reason.INTERNAL_ERROR
        )
        rows = Order.objects.filter(past_grace).filter(
            (Q(pk__in=expired.values("pk")) & ~Exists(was_held)) | Q(pk__in=suspended.values("pk"))
        )
        # Never while a card payment for its renewal is in flight: it may have succeeded.
        rows = rows.exclude(pk__in=list(claimed_orders_all()))
        for row in rows.order_by("pk").values_list(*_COLUMNS):
            moves.append(move(row, OrderStatus.SUSPENDED, OrderStatus.TERMINATED))
    return moves


def lifecycle_apply(moves: list[Move], *, on: datetime.date, actor: Actor, run=None) -> list[Move]:
    """Apply planned moves, each once: a move whose order is no longer in its
    ``frm`` state (another run did it) is left out. Returns the moves made.

    CHUNK moves per transaction; a chunk that raises is split until the
    order that cannot move is found alone, recorded as a fault and left for
    the next night, while every other order moves (core.isolation)."""
    made: list[Move] = []

    def apply(part: list[Move]) -> None:
        made.extend(_apply_chunk(part, on=on, actor=actor, run=run))

    for to in (OrderStatus.SUSPENDED, OrderStatus.TERMINATED):
        isolated(
            [m for m in moves if m.to == to],
            apply,
            stage=Stage.LIFECYCLE,
            subject=_move_subject,
            on=on,
            run_id=run.pk if run else None,
            chunk=CHUNK,
            atomic=False,  # each chunk is its own transaction
        )
    if made:
        schedule_hooks()
    return made


def _move_subject(move: Move) -> Subject:
    return Subject(
        key=f"order:{move.order_id}",
        label=f"order {move.order_ref}: {move.frm} -> {move.to}",
        customer_id=move.customer_id,
        orders=(move.order_ref,),
    )


def _apply_chunk(moves: list[Move], *, on, actor: Actor, run) -> list[Move]:
    for move in moves[:1]:
        check_transition(move.frm, move.to)
    with transaction.atomic():
        frm, to = moves[0].frm, moves[0].to
        ids = [m.order_id for m in moves]
        # Claim: only orders still in the expected state move (a second run,
        # or a renewal that restored one meanwhile, leaves them alone).
        claimed = set(
            Order.objects.select_for_update()
            .filter(pk__in=ids, status=frm, expires_on__lt=on)
            .values_list("pk", flat=True)
        )
        moves = [m for m in moves if m.order_id in claimed]
        if not moves:
            return []
        Order.objects.filter(pk__in=[m.order_id for m in moves], status=frm).update(
            status=to, updated_at=timezone.now()
        )
        now = db_now()
        # Rows as tuples: the ORM's bulk_create spent more preparing instances than the database writing them.
        insert_rows(
            LifecycleEvent,
            ("order_id", "transition", "origin", "cycle", "business_date", "run_id", "created_at", "hook_state",
             "hook_attempts", "hook_error"),
            [(m.order_id, m.transition, EventOrigin.NIGHTLY, m.cycle, on, run.pk if run else None, now,
              HookState.PENDING, 0, "") for m in moves],
            ignore_conflicts=True,
        )  # fmt: skip
        order_status_audit_many(
            actor=actor,
            business_date=on,
            moves=[(m.order_id, m.order_ref, m.frm, m.to) for m in moves],
            reason="lifecycle",
        )
        if to == OrderStatus.TERMINATED:
            open_renewals_cancel([m.order_id for m in moves], on)
        # Keyed by order and cycle, which the status claim above just took.
        notices_create([move_notice(m, on) for m in moves], new=True)
        moved_events(moves, on, via="lifecycle")  # the resellers' webhooks, keyed like the notices
    return moves


def move_notice(move: Move, on: datetime.date, *, subject_key: str = "") -> NoticeSpec:
    """The customer's ``suspended`` or ``terminated`` notice of a move, keyed
    by order and cycle (the nightly run's), or by ``subject_key`` (an admin's
    move: its own event)."""
    suspended = move.to == OrderStatus.SUSPENDED
    return NoticeSpec(
        kind="suspended" if suspended else "terminated",
        customer_id=move.customer_id,
        reseller_id=move.reseller_id,
        recipient=move.email,
        subject_key=subject_key or f"order:{move.order_id}",
        cycle=move.cycle.isoformat(),
        business_date=on,
        data={
            "orders": [order_row(move.order_ref, move.product, move.cycle)],
            "terminate_on": move.terminate_on.isoformat() if move.terminate_on else "",
        },
        order_refs=[move.order_ref],
    )


def schedule_hooks() -> None:
    """Run the provisioning hooks once the current transaction commits (with
    the broker down, the next scheduled pass runs them: they wait as pending
    events)."""
    enqueue_on_commit("renewals.tasks.run_provisioning_hooks")


def provisioning_run(limit: int = 500, *, retry_failed: bool = True, seconds: float | None = None) -> dict[str, int]:
    """Call the hook for pending events (and failed ones, to retry them: the
    nightly pass), each claimed by a conditional UPDATE so that two workers
    never run the same one. A hook that raises is recorded on its event and
    as a fault (core.isolation), and the others run.

    Every waiting event, ``limit`` read at a time in id order (a night of
    80,000 moves must not leave its hooks to beat's passes for hours), until
    none is left or ``seconds`` have passed; each event at most once per
    call. HOOK_CHUNK of them at a time: one UPDATE claims them all (each
    still only at the attempt count it was read with), one query loads
    them, one UPDATE marks those whose hook returned done; a statement (and
    its commit) per event made a night's hooks cost more than its moves."""
    hook = provisioning_hook()
    counts = {HookState.DONE.value: 0, HookState.FAILED.value: 0}
    states = [HookState.PENDING, HookState.FAILED] if retry_failed else [HookState.PENDING]
    deadline = None if seconds is None else time.monotonic() + seconds
    waiting = LifecycleEvent.objects.filter(hook_state__in=states, hook_attempts__lt=MAX_HOOK_ATTEMPTS).order_by("pk")
    after = 0
    while True:
        candidates = list(waiting.filter(pk__gt=after).values_list("pk", "hook_state", "hook_attempts")[:limit])
        for start in range(0, len(candidates), HOOK_CHUNK):
            _hooks_run(hook, _hooks_claim(candidates[start : start + HOOK_CHUNK]), counts)
        if len(candidates) < limit or (deadline is not None and time.monotonic() >= deadline):
            return counts
        after = candidates[-1][0]


def _hooks_run(hook, claimed: list[int], counts: dict[str, int]) -> None:
    events = LifecycleEvent.objects.select_related("order").in_bulk(claimed)
    done: list[int] = []

    def run_one(pk: int) -> None:
        hook(events[pk])
        done.append(pk)

    def hook_failed(pk: int, error: BaseException) -> None:
        LifecycleEvent.objects.filter(pk=pk).update(hook_state=HookState.FAILED, hook_error=str(error)[:2000])
        counts[HookState.FAILED] += 1

    # No transaction around a hook: it calls out to the provider.
    each(sorted(claimed), run_one, stage=Stage.HOOKS, subject=_event_subject, atomic=False, failed=hook_failed)
    if done:
        LifecycleEvent.objects.filter(pk__in=done).update(
            hook_state=HookState.DONE, hook_error="", hook_done_at=timezone.now()
        )
        counts[HookState.DONE] += len(done)


def _hooks_claim(candidates: list[tuple[int, str, int]]) -> list[int]:
    """Claim events read as (pk, state, attempts): each whose state and
    attempt count are still those has its attempts counted up, in one
    statement; returns the claimed pks (another worker's claims are not)."""
    if not candidates:
        return []
    table = LifecycleEvent._meta.db_table
    values = ", ".join(["(%s, %s, %s)"] * len(candidates))
    # VALUES' columns are column1..3 on PostgreSQL and SQLite alike.
    sql = (
        f"UPDATE {table} SET hook_attempts = {table}.hook_attempts + 1 FROM (VALUES {values}) AS v "
        f"WHERE {table}.id = v.column1 AND {table}.hook_state = v.column2 AND {table}.hook_attempts = v.column3 "
        f"RETURNING {table}.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for candidate in candidates for value in candidate])
        return [row[0] for row in cursor.fetchall()]


def _event_subject(pk: int) -> Subject:
    event = LifecycleEvent.objects.select_related("order").filter(pk=pk).first()
    if event is None:
        return Subject(key=f"event:{pk}")
    return Subject(
        key=f"event:{event.pk}",
        label=f"{event.get_transition_display()} hook of order {event.order.ref}",
        customer_id=event.order.customer_id,
        orders=(event.order.ref,),
    )
