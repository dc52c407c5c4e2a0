"""The yardstick of the sweep benchmark: the same night's work for the
benchmark's portal (renewals.bench.build_portal: balance-paid auto-renewing
orders), written by hand as one set-based SQL statement per batch of
accounts, in one process, on PostgreSQL.

"bare" is the issue's yardstick: the accounts locked and debited, an invoice
numbered from the reseller's gapless sequence with a line per order, the
orders extended, a ledger entry per account. "full" also writes the records
the sweep keeps for an account: the ledger entry's audit record, the batch
attempt (a failed one for an account that cannot pay) and the two notices;
after it the invariants (renewals.invariants) hold as after the sweep.
Neither has what makes the sweep a product rather than a benchmark: the
rules are hard-coded for the benchmark's data (every order balance-paid,
auto-renew on, the tenure's price, the default window of 7 or 30 days); no
cards, claims, skipped orders with their reasons, failure notices, or
isolation of one account's fault.

`bench_sweep --hand-sql bare|full` runs it instead of the sweep; comparing
them (same portal, fresh databases) gives the ratio the sweep is held to.
"""

import datetime

from django.db import connection, transaction

from renewals.rules import LONG_LEAD_DAYS, SHORT_LEAD_DAYS, SHORT_TENURE_MONTHS

# An order the sweep would renew on %(on)s, in the benchmark's portal.
_DUE = f"""
    o.status IN ('active', 'suspended') AND o.auto_renew AND NOT o.do_not_renew AND NOT o.stopped
    AND NOT o.locked AND NOT o.pending_action AND o.payment_source = 'balance'
    AND o.expires_on >= %(on)s
    AND o.expires_on <= %(on)s + CASE WHEN o.tenure_months <= {SHORT_TENURE_MONTHS}
        THEN {SHORT_LEAD_DAYS} ELSE {LONG_LEAD_DAYS} END
"""

# The last account of the batch after %(after)s: the accounts with a due
# order, in id order.
_BATCH_END = f"""
SELECT max(customer_id) FROM (
    SELECT DISTINCT o.customer_id FROM orders_order o
    WHERE o.customer_id > %(after)s AND {_DUE}
    ORDER BY o.customer_id LIMIT %(size)s
) batch
"""

# A batch's working rows, in temporary tables emptied at each commit (their
# row counts known to the planner, unlike a CTE's): the due orders priced,
# and their accounts with what each pays and, for those that can, its
# invoice's id and number (per reseller, after the sequence's last number).
_SETUP = """
CREATE TEMP TABLE IF NOT EXISTS bench_due (
    id bigint, customer_id bigint, ref text, expires_on date, months int, amount numeric,
    anchor int, description text, new_end date
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS bench_account (
    customer_id bigint, total numeric, n int, refs jsonb, balance numeric, currency text, reseller_id bigint,
    ref text, email text, pays boolean, invoice_id bigint, seq int, number text
) ON COMMIT DELETE ROWS;
"""

# The accounts in (%(after)s, %(upto)s] locked in id order, their due orders
# priced, the new paid-thru date by the tenure (the anchor day kept,
# clamped to the month's end).
_DUE_ROWS = f"""
WITH locked AS MATERIALIZED (
    SELECT customer_id FROM balances_account
    WHERE customer_id > %(after)s AND customer_id <= %(upto)s ORDER BY customer_id FOR UPDATE
)
INSERT INTO bench_due
SELECT o.id, o.customer_id, o.ref, o.expires_on, o.tenure_months, pp.amount, x.anchor,
    p.name || ', ' || o.tenure_months || ' month(s)',
    (x.month_start + make_interval(days => least(x.anchor,
        extract(day FROM x.month_start + interval '1 month' - interval '1 day')::int) - 1))::date
FROM orders_order o
JOIN catalog_plan p ON p.id = o.plan_id
JOIN catalog_planprice pp ON pp.plan_id = o.plan_id AND pp.months = o.tenure_months,
LATERAL (SELECT coalesce(o.anchor_day, extract(day FROM o.expires_on)::int) AS anchor,
    date_trunc('month', o.expires_on::timestamp) + make_interval(months => o.tenure_months) AS month_start) x
WHERE o.customer_id > %(after)s AND o.customer_id <= %(upto)s AND {_DUE}
    AND (SELECT count(*) FROM locked) > 0
"""

_ACCOUNT_ROWS = """
WITH totals AS (
    SELECT d.customer_id, sum(d.amount) AS total, count(*) AS n, jsonb_agg(d.ref ORDER BY d.expires_on, d.id) AS refs
    FROM bench_due d GROUP BY d.customer_id
), accounts AS (
    SELECT t.*, a.balance, a.currency, c.reseller_id, c.ref, c.email,
        a.balance - a.held + a.credit_limit >= t.total AS pays
    FROM totals t
    JOIN balances_account a ON a.customer_id = t.customer_id
    JOIN tenants_customer c ON c.id = t.customer_id
), counts AS (
    SELECT reseller_id, count(*) AS n FROM accounts WHERE pays GROUP BY reseller_id
), sequences AS (
    INSERT INTO invoices_invoicesequence (reseller_id, last_number)
    SELECT reseller_id, n FROM counts
    ON CONFLICT (reseller_id) DO UPDATE
        SET last_number = invoices_invoicesequence.last_number + excluded.last_number
    RETURNING reseller_id, last_number
), numbered AS (
    SELECT a.*, s.last_number - c.n
        + row_number() OVER (PARTITION BY a.reseller_id ORDER BY a.customer_id) AS seq
    FROM accounts a JOIN sequences s USING (reseller_id) JOIN counts c USING (reseller_id)
    WHERE a.pays
)
INSERT INTO bench_account
SELECT a.customer_id, a.total, a.n, a.refs, a.balance, a.currency, a.reseller_id, a.ref, a.email, a.pays,
    CASE WHEN a.pays THEN nextval(pg_get_serial_sequence('invoices_invoice', 'id')) END, n.seq,
    r.invoice_prefix || '-' || extract(year FROM %(on)s::date) || '-' || lpad(n.seq::text, 6, '0')
FROM accounts a LEFT JOIN numbered n USING (customer_id) JOIN tenants_reseller r ON r.id = a.reseller_id
"""

# The batch's writes, each from the working rows: the invoices and their
# lines, the orders extended, the accounts debited and the ledger entries
# (the yardstick, "bare"); with the records the sweep also keeps
# ("full"): the entries' audit records, the attempts (renewed or failed) and
# the notices.
_WRITE_BARE = """
WITH invoices AS (
    INSERT INTO invoices_invoice (id, number, reseller_id, sequence, customer_id, currency, total, business_date,
        issued_at, payment_reference, source, created_by)
    SELECT invoice_id, number, reseller_id, seq, customer_id, currency, total, %(on)s, now(), 'balance',
        'automatic', 'system'
    FROM bench_account WHERE pays
), lines AS (
    INSERT INTO invoices_invoiceline (invoice_id, order_id, description, period_start, period_end, months, amount,
        complimentary)
    SELECT a.invoice_id, d.id, d.description, d.expires_on, d.new_end, d.months, d.amount, false
    FROM bench_due d JOIN bench_account a USING (customer_id) WHERE a.pays
), extended AS (
    UPDATE orders_order o SET expires_on = d.new_end, anchor_day = d.anchor, status = 'active'
    FROM bench_due d JOIN bench_account a USING (customer_id)
    WHERE o.id = d.id AND a.pays
), debited AS (
    UPDATE balances_account a
    SET balance = a.balance - p.total, updated_at = now(),
        overdrawn = least(a.overdrawn, greatest(0, -(a.balance - p.total - a.held + a.credit_limit)))
    FROM bench_account p WHERE a.customer_id = p.customer_id AND p.pays
), entries AS (
    INSERT INTO balances_ledgerentry (account_id, kind, amount, balance_after, business_date, created_at,
        reference, memo, actor_label)
    SELECT customer_id, 'renewal', -total, balance - total, %(on)s, now(), number,
        'Renewal: ' || n || ' order(s)', 'system'
    FROM bench_account WHERE pays
)
"""

_WRITE_RECORDS = """, audits AS (
    INSERT INTO audit_auditevent (occurred_at, business_date, actor_label, action, target_type, target_id,
        target_ref, before, after, reason)
    SELECT now(), %(on)s, 'system', 'ledger.renewal', 'tenants.customer', customer_id, ref,
        to_jsonb(balance::numeric(20, 2)::text), to_jsonb((balance - total)::numeric(20, 2)::text), number
    FROM bench_account WHERE pays
), attempts AS (
    INSERT INTO renewals_batchattempt (customer_id, business_date, outcome, reason, total, currency, invoice_id,
        created_at)
    SELECT customer_id, %(on)s, CASE WHEN pays THEN 'renewed' ELSE 'failed' END,
        CASE WHEN pays THEN '' ELSE 'insufficient_funds' END, total, currency, invoice_id, now()
    FROM bench_account
), notices AS (
    INSERT INTO notifications_notice (kind, customer_id, reseller_id, recipient, subject_key, cycle, order_refs,
        data, business_date, created_at, state)
    SELECT k.kind, customer_id, reseller_id, email, 'invoice:' || invoice_id, %(on)s::date::text, refs,
        jsonb_build_object('invoice_id', invoice_id), %(on)s, now(), 'pending'
    FROM bench_account CROSS JOIN (VALUES ('renewal_succeeded'), ('renewal_completed')) k(kind)
    WHERE pays
)
"""

_WRITE_RESULT = """
SELECT count(*), coalesce(sum(n), 0) FROM bench_account WHERE pays
"""


def hand_sweep(*, on: datetime.date, records: bool = False, batch_size: int = 1000) -> dict[str, int]:
    """The benchmark portal's night for ``on``, batch by batch (one
    transaction: its end, its working rows, its writes); with ``records``,
    the sweep's records too. Returns the accounts and orders renewed."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("the hand-written SQL is PostgreSQL's")
    after, accounts, orders = 0, 0, 0
    with connection.cursor() as cursor:
        cursor.execute(_SETUP)
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_BATCH_END, {"on": on, "after": after, "size": batch_size})
            (upto,) = cursor.fetchone()
            if upto is None:
                return {"accounts": accounts, "orders": orders}
            params = {"on": on, "after": after, "upto": upto}
            cursor.execute(_DUE_ROWS, params)
            cursor.execute("ANALYZE bench_due")
            cursor.execute(_ACCOUNT_ROWS, params)
            cursor.execute("ANALYZE bench_account")
            cursor.execute(_WRITE_BARE + (_WRITE_RECORDS if records else "") + _WRITE_RESULT, params)
            renewed, renewed_orders = cursor.fetchone()
        after, accounts, orders = upto, accounts + renewed, orders + int(renewed_orders)
