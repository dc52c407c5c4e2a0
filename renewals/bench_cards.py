"""Card-paid accounts for the card step's benchmark (``manage.py
bench_cards``) and its tests: the sweep benchmark's synthetic portal
(renewals.bench), its orders paid by a saved card at a stub processor."""

import datetime

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from balances.models import Account
from orders.models import Order, PaymentSource
from payments.models import Card
from renewals.bench import build_portal
from tenants.models import Customer


def card_paid_accounts(accounts: int, *, seed: int, on: datetime.date) -> list[int]:
    """``accounts`` accounts with 3 orders each, all due on ``on`` and paid
    by the card: a Stripe customer (``cus_bench<id>``) and a default card
    (``pm_bench<id>``) each. Returns their customer ids."""
    built = build_portal(orders=accounts * 3, due_fraction=1.0, seed=seed, on=on)
    customers = Customer.objects.filter(reseller__ref=built["tag"])
    customer_ids = list(customers.order_by("pk").values_list("pk", flat=True))
    Order.objects.filter(customer__in=customers).update(payment_source=PaymentSource.CARD)
    Account.objects.filter(customer__in=customers).update(
        stripe_customer_id=Concat(Value("cus_bench"), Cast("customer_id", CharField()))
    )
    Card.objects.bulk_create(
        [
            Card(
                account_id=pk,
                stripe_payment_method_id=f"pm_bench{pk}",
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=2040,
                is_default=True,
            )
            for pk in customer_ids
        ],
        batch_size=5000,
    )
    return customer_ids
