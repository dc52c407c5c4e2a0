"""An operator's moves of one order, made from Django admin (SPEC "Orders"):
the paid-thru date and the status change only here, each with a reason.

- ``order_extend``: a complimentary extension to a date the operator picks,
  written like a renewal of the order's cycle (a 0.00 invoice line marked
  complimentary, through ``renewals.writer``), so the cycle stays unique and
  the nightly run never renews it again.
- ``order_suspend``, ``order_restore``, ``order_terminate``: the moves of the
  nightly lifecycle (the status move, a ``LifecycleEvent`` whose provisioning
  hook runs after commit, the audit record, the customer's notice), made by
  an operator. Their events have ``origin=admin`` and their notices are keyed
  by the event, so they never take the nightly run's keys: an operator may
  suspend and restore an order within a cycle that the night later suspends.

A suspended order whose paid-thru date has passed is restored only together
with an extension: restored without one, the next night would suspend it
again at once.
"""

import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction

from audit.services import audit_record
from balances.locks import lock_account
from catalog.models import product_label
from core.dates import business_today
from core.errors import DomainError, IllegalTransition, NotFound
from core.queue import enqueue_on_commit
from invoices.models import Invoice, InvoiceLine, RenewalSource
from notifications.services import notices_create
from orders.locks import lock_order
from orders.models import Order
from orders.periods import add_months, anchor_fits
from orders.services import order_transition, reason_required
from orders.states import OrderStatus, check_transition
from renewals.claims import claimed_orders
from renewals.events import moved_events
from renewals.lifecycle import Move, move_notice
from renewals.models import EventOrigin, LifecycleEvent, Transition
from renewals.rules import Period, termination_day
from renewals.writer import Charge, Line, RenewalConflict, finish, write_renewals
from tenants.scope import Actor

HOOKS_TASK = "renewals.tasks.run_provisioning_hooks"
ZERO = Decimal("0.00")


def whole_months(start: datetime.date, end: datetime.date, anchor_day: int) -> int:
    """Whole months (keeping the day of month) from ``start`` to ``end``: what
    an extension's line says it gave, the days beyond not counted."""
    months = 0
    while add_months(start, months + 1, anchor_day) <= end:
        months += 1
    return months


def extension_period(expires_on: datetime.date, anchor_day: int | None, until: datetime.date, currency: str) -> Period:
    """The period a complimentary extension gives: from the paid-thru date to
    ``until``, at 0.00. The order keeps its day of month when ``until`` falls
    on it, else renews on ``until``'s day from then on."""
    anchor = anchor_day or expires_on.day
    months = whole_months(expires_on, until, anchor)
    if not anchor_fits(until, anchor):
        anchor = until.day
    return Period(expires_on, until, months, ZERO, 0, ZERO, anchor, currency)


def _refuse_if_claimed(order: Order) -> None:
    if order.pk in claimed_orders([order.customer_id]):
        raise DomainError(
            f"order {order.ref}: a card payment for its renewal is in progress; wait until it is settled",
            code="payment_in_progress",
        )


def _check_extendable(order: Order, until: datetime.date) -> None:
    if order.status == OrderStatus.TERMINATED:
        raise IllegalTransition(f"order {order.ref} is terminated: its service and data are gone")
    if order.expires_on is None:
        raise DomainError(f"order {order.ref} never expires: there is nothing to extend", code="endless")
    if until <= order.expires_on:
        raise DomainError(
            f"order {order.ref} is paid thru {order.expires_on}: pick a later date than that, not {until}",
            code="invalid_date",
        )
    _refuse_if_claimed(order)
    renewed = (
        InvoiceLine.objects.filter(order_id=order.pk, period_start=order.expires_on)
        .values_list("invoice__number", flat=True)
        .first()
    )
    if renewed is not None:
        # Only bad data gets here (a paid-thru date set back by hand): the
        # cycle has its renewal, and a second one cannot exist.
        raise DomainError(
            f"order {order.ref}: its cycle {order.expires_on} was renewed already (invoice {renewed}); "
            "correct its paid-thru date to the end of that renewal",
            code="renewed_meanwhile",
        )


def _extend(*, actor: Actor, order: Order, account, until: datetime.date, reason: str, on: datetime.date) -> int:
    """Write the extension of an order locked by ``_locked``, in the caller's
    transaction. Returns the invoice id."""
    _check_extendable(order, until)
    period = extension_period(order.expires_on, order.anchor_day, until, account.currency)
    description = f"{product_label(order.plan.name, order.tenure_months)}: complimentary extension"
    charge = Charge.of_account(account, [Line(order.pk, order.ref, description, order.status, period)])
    charge.complimentary = True
    written = write_renewals(
        [charge], on=on, source=RenewalSource.COMPLIMENTARY, actor=actor, payment_memo="Complimentary extension"
    )
    audit_record(
        actor=actor,
        action="order.extend",
        target=order,
        before=order.expires_on,
        after=until,
        reason=reason,
        business_date=on,
    )
    return finish(written)[account.pk]


def _locked(order_id: int):
    """(order, account) under their row locks, the account first (the sweep's
    order: accounts, then what they own); the order with its plan, category
    and customer."""
    customer_id = Order.objects.filter(pk=order_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise NotFound(f"order {order_id} not found")
    account = lock_account(customer_id)
    lock_order(order_id)
    order = Order.objects.select_related("plan__category", "customer").get(pk=order_id)
    return order, account


def _extension(
    *, actor: Actor, order_id: int, until: datetime.date, reason: str, on: datetime.date, restore: bool
) -> Invoice:
    try:
        with transaction.atomic():
            order, account = _locked(order_id)
            if restore:
                check_transition(order.status, OrderStatus.ACTIVE, label=f"order {order.ref}")
            invoice_id = _extend(actor=actor, order=order, account=account, until=until, reason=reason, on=on)
    # The unique (order, cycle): renewed by someone else meanwhile. (The
    # writer's COPY raises the driver's own error, not Django's.)
    except (IntegrityError, connection.Database.IntegrityError) as exc:
        raise RenewalConflict(f"order {order_id} was renewed meanwhile; nothing was written") from exc
    return Invoice.objects.get(pk=invoice_id)


def order_extend(
    *, actor: Actor, order_id: int, until: datetime.date, reason: str, on: datetime.date | None = None
) -> Invoice:
    """Extend the order to ``until`` at no charge, as a renewal of its current
    cycle: a 0.00 invoice (numbered like any other), the paid-thru date moved,
    a suspended order restored (unsuspend event and hook), the customer told
    with ``renewal_completed``, the reason audited."""
    reason = reason_required(reason)
    return _extension(
        actor=actor, order_id=order_id, until=until, reason=reason, on=on or business_today(), restore=False
    )


def _event(order: Order, transition: str, on: datetime.date) -> LifecycleEvent:
    return LifecycleEvent.objects.create(
        order=order, transition=transition, origin=EventOrigin.ADMIN, cycle=order.expires_on, business_date=on
    )


def _notice(order: Order, event: LifecycleEvent, on: datetime.date, *, frm: str, to: str) -> None:
    """The nightly lifecycle's notice of the move, keyed by the admin's own
    event: never the nightly run's keys ("order:<id>" and the cycle), and new
    by construction."""
    move = _move(order, on, frm=frm, to=to)
    notices_create([move_notice(move, on, subject_key=f"event:{event.pk}")], new=True)
    _webhook(order, event, on, frm=frm, to=to, move=move)


def _move(order: Order, on: datetime.date, *, frm: str, to: str) -> Move:
    customer = order.customer
    return Move(
        order.pk,
        order.ref,
        customer.pk,
        customer.reseller_id,
        customer.email,
        order.expires_on,
        frm,
        to,
        product_label(order.plan.name, order.tenure_months),
        termination_day(order.expires_on, order.plan.category.grace_days, suspended_on=on),
    )


def _webhook(order: Order, event: LifecycleEvent, on: datetime.date, *, frm: str, to: str, move=None) -> None:
    """The resellers' webhook of an admin's move, keyed by its own event."""
    move = move or _move(order, on, frm=frm, to=to)
    moved_events([move], on, via="admin", keys={order.pk: f"event:{event.pk}"})


def order_suspend(*, actor: Actor, order_id: int, reason: str, on: datetime.date | None = None) -> LifecycleEvent:
    """Suspend an active order now: the status move, an admin event (its hook
    after commit), the audit record and the customer's ``suspended`` notice."""
    reason = reason_required(reason)
    on = on or business_today()
    with transaction.atomic():
        order, _account = _locked(order_id)
        _refuse_if_claimed(order)
        order_transition(actor=actor, order_id=order.pk, to=OrderStatus.SUSPENDED, reason=reason, business_date=on)
        event = _event(order, Transition.SUSPEND, on)
        _notice(order, event, on, frm=OrderStatus.ACTIVE, to=OrderStatus.SUSPENDED)
        enqueue_on_commit(HOOKS_TASK)
    return event


def order_restore(
    *,
    actor: Actor,
    order_id: int,
    reason: str,
    until: datetime.date | None = None,
    on: datetime.date | None = None,
) -> LifecycleEvent | Invoice:
    """Restore a suspended order. With ``until``: a complimentary extension,
    which restores it as a renewal during grace does (returns the invoice).
    Without: allowed only while its paid-thru date has not passed (returns
    the admin's unsuspend event; its hook runs after commit). No notice: SPEC
    names none for a restore."""
    reason = reason_required(reason)
    on = on or business_today()
    if until is not None:
        return _extension(actor=actor, order_id=order_id, until=until, reason=reason, on=on, restore=True)
    with transaction.atomic():
        order, _account = _locked(order_id)
        check_transition(order.status, OrderStatus.ACTIVE, label=f"order {order.ref}")
        if order.expires_on < on:
            raise DomainError(
                f"order {order.ref} was paid thru {order.expires_on}, which has passed: restore it together with "
                "an extension (the new paid-thru date), or the next nightly run suspends it again",
                code="extension_required",
            )
        order_transition(actor=actor, order_id=order.pk, to=OrderStatus.ACTIVE, reason=reason, business_date=on)
        event = _event(order, Transition.UNSUSPEND, on)
        _webhook(order, event, on, frm=OrderStatus.SUSPENDED, to=OrderStatus.ACTIVE)
        enqueue_on_commit(HOOKS_TASK)
    return event


def order_terminate(
    *,
    actor: Actor,
    order_id: int,
    reason: str,
    suspend_first: bool = False,
    on: datetime.date | None = None,
) -> list[LifecycleEvent]:
    """Terminate a suspended order (irreversible): the status move, an admin
    event (its deprovisioning hook after commit), the audit record and the
    customer's ``terminated`` notice. With ``suspend_first`` an active order
    is suspended and terminated in one step (abuse, fraud, a customer's
    request): both events, both hooks in order, one notice."""
    reason = reason_required(reason)
    on = on or business_today()
    with transaction.atomic():
        order, _account = _locked(order_id)
        # SPEC: termination is never reached while a renewal for the order is paid.
        _refuse_if_claimed(order)
        events = []
        if suspend_first and order.status == OrderStatus.ACTIVE:
            order_transition(actor=actor, order_id=order.pk, to=OrderStatus.SUSPENDED, reason=reason, business_date=on)
            events.append(_event(order, Transition.SUSPEND, on))
            _webhook(order, events[-1], on, frm=OrderStatus.ACTIVE, to=OrderStatus.SUSPENDED)
        order_transition(actor=actor, order_id=order.pk, to=OrderStatus.TERMINATED, reason=reason, business_date=on)
        events.append(_event(order, Transition.TERMINATE, on))
        _notice(order, events[-1], on, frm=OrderStatus.SUSPENDED, to=OrderStatus.TERMINATED)
        enqueue_on_commit(HOOKS_TASK)
    return events
