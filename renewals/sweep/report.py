"""The run_renewals report (SPEC "Operator interface"): built from the records
a real run wrote, or from the plans of a dry-run, in the same shape and order,
so the two can be compared field by field."""

import datetime
from dataclasses import dataclass, field

from core.money import format_amount
from invoices.models import InvoiceLine
from renewals.lifecycle import Move
from renewals.models import BatchAttempt, BatchOutcome, LifecycleEvent, OrderOutcome, Transition
from renewals.rules import Reason, next_attempt_sentence
from renewals.sweep.plan import AccountPlan

_TRANSITION_STATES = {
    Transition.SUSPEND: ("active", "suspended"),
    Transition.TERMINATE: ("suspended", "terminated"),
}


@dataclass
class Report:
    date: str
    dry_run: bool
    batches: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    lifecycle: list[dict] = field(default_factory=list)
    # A dry-run's accounts not tried that night by their retry policy (docs/
    # dunning.md), with the night they are tried next; a real run records
    # nothing of them. In the report only when there are some, so a dry-run
    # and its real run still compare field by field without any.
    waiting: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        report = {
            "date": self.date,
            "dry_run": self.dry_run,
            "batches": self.batches,
            "orders": self.orders,
            "lifecycle": self.lifecycle,
        }
        return report | ({"waiting": self.waiting} if self.waiting else {})

    def sort(self) -> "Report":
        self.batches.sort(key=lambda b: b["customer"])
        self.orders.sort(key=lambda o: o["order"])
        self.lifecycle.sort(key=lambda m: (m["order"], m["from"] != "active"))
        self.waiting.sort(key=lambda w: w["customer"])
        return self

    def counts(self) -> dict[str, int]:
        outcomes = [b["outcome"] for b in self.batches]
        return {
            "batches_renewed": outcomes.count(BatchOutcome.RENEWED),
            "batches_failed": outcomes.count(BatchOutcome.FAILED),
            "batches_pending": outcomes.count(BatchOutcome.PENDING),
            "orders_renewed": sum(1 for o in self.orders if o["outcome"] == BatchOutcome.RENEWED),
            "orders_skipped": sum(1 for o in self.orders if o["outcome"] == BatchOutcome.SKIPPED),
            "suspended": sum(1 for m in self.lifecycle if m["to"] == "suspended"),
            "terminated": sum(1 for m in self.lifecycle if m["to"] == "terminated"),
        }

    def summary(self) -> str:
        c = self.counts()
        internal = sum(1 for b in self.batches if b["reason"] == Reason.INTERNAL_ERROR)
        return (
            f"{self.date}{' (dry run)' if self.dry_run else ''}: "
            f"{c['batches_renewed']} batch(es) renewed ({c['orders_renewed']} orders), "
            f"{c['batches_failed']} failed"
            f"{f' ({internal} could not be processed: internal_error, see the faults)' if internal else ''}, "
            f"{c['batches_pending']} pending, {c['orders_skipped']} order(s) skipped; "
            f"{c['suspended']} suspended, {c['terminated']} terminated"
        )


def _amount(value, currency: str | None) -> str | None:
    """An amount as the report writes it: a string with its currency's places."""
    return None if value is None else format_amount(value, currency)


def report_from_plans(on: datetime.date, plans: list[AccountPlan], moves: list[Move]) -> Report:
    report = Report(date=on.isoformat(), dry_run=True)
    for plan in plans:
        if plan.waiting:
            report.waiting.append(
                {
                    "customer": plan.account.ref,
                    "orders": sorted(p.order.ref for p in plan.batch),
                    "next_attempt": plan.next_attempt.isoformat() if plan.next_attempt else None,
                    "why": next_attempt_sentence(plan.next_attempt),
                }
            )
            continue
        renewed = plan.outcome == BatchOutcome.RENEWED
        if plan.batch:
            report.batches.append(
                {
                    "customer": plan.account.ref,
                    "outcome": plan.outcome,
                    "reason": plan.reason.value if plan.reason else None,
                    "total": _amount(plan.total, plan.account.currency),
                    "orders": sorted(p.order.ref for p in plan.batch),
                }
            )
        for p in plan.batch:
            report.orders.append(
                {
                    "order": p.order.ref,
                    "outcome": plan.outcome,
                    "reason": plan.reason.value if plan.reason else None,
                    "amount": _amount(p.amount, plan.account.currency),
                    "expires_on": (p.period.end if renewed else p.order.expires_on).isoformat(),
                }
            )
        for p in plan.skipped:
            waiting = p.reason == Reason.PAYMENT_UNKNOWN  # on a card payment in flight
            report.orders.append(
                {
                    "order": p.order.ref,
                    "outcome": (BatchOutcome.PENDING if waiting else BatchOutcome.SKIPPED).value,
                    "reason": p.reason.value,
                    "amount": None,
                    "expires_on": p.order.expires_on.isoformat(),
                }
            )
    report.lifecycle = [{"order": m.order_ref, "from": m.frm, "to": m.to} for m in moves]
    return report.sort()


def report_from_records(run) -> Report:
    report = Report(date=run.business_date.isoformat(), dry_run=False)
    attempts = BatchAttempt.objects.filter(run=run).exclude(outcome=BatchOutcome.SKIPPED)
    batch_orders: dict[int, list[str]] = {}
    outcomes = OrderOutcome.objects.filter(run=run).values_list(
        "order__ref", "outcome", "reason", "amount", "expires_on", "attempt_id", "attempt__currency"
    )
    for ref, outcome, reason, amount, expires_on, attempt_id, currency in outcomes.iterator(chunk_size=5000):
        report.orders.append(
            {
                "order": ref,
                "outcome": outcome,
                "reason": reason or None,
                "amount": _amount(amount, currency),
                "expires_on": expires_on.isoformat() if expires_on else None,
            }
        )
        if outcome != BatchOutcome.SKIPPED:
            batch_orders.setdefault(attempt_id, []).append(ref)
    renewed = InvoiceLine.objects.filter(invoice__attempt__run=run).values_list(
        "order__ref", "amount", "period_end", "invoice__attempt__pk", "invoice__currency"
    )
    for ref, amount, period_end, attempt_id, currency in renewed.iterator(chunk_size=5000):
        report.orders.append(
            {
                "order": ref,
                "outcome": BatchOutcome.RENEWED.value,
                "reason": None,
                "amount": _amount(amount, currency),
                "expires_on": period_end.isoformat(),
            }
        )
        batch_orders.setdefault(attempt_id, []).append(ref)
    rows = attempts.values_list("pk", "customer__ref", "outcome", "reason", "total", "currency")
    for pk, ref, outcome, reason, total, currency in rows:
        report.batches.append(
            {
                "customer": ref,
                "outcome": outcome,
                "reason": reason or None,
                "total": _amount(total, currency),
                "orders": sorted(batch_orders.get(pk, [])),
            }
        )
    transitions = LifecycleEvent.objects.filter(run=run).values_list("order__ref", "transition")
    report.lifecycle = [
        {"order": ref, "from": _TRANSITION_STATES[t][0], "to": _TRANSITION_STATES[t][1]} for ref, t in transitions
    ]
    return report.sort()
