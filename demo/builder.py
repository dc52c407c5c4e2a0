"""A believable demo portal, written as a renewal-portal/v1 document and loaded
through the importer: the demo exercises the same path an operator's
migration does.

Dates are relative to the business date, so the demo always has orders due
tonight, orders in grace and orders already terminated.
"""

import datetime
import random

from orders.periods import add_months

RESELLERS = [
    # Dunning (docs/dunning.md): Acme retries a failed renewal 7, 3, 1 and 0
    # days before expiry (and on the window's first night); Acme West
    # overrides it with every night; Acme Japan inherits Acme's; Acme West's
    # own account (c034, held with Acme) is exempt: tried every night.
    {
        "ref": "acme",
        "name": "Acme Hosting",
        "email": "billing@acme.test",
        "parent": None,
        "retry_days": [7, 3, 1, 0],
        "last_chance_day": 0,
    },
    {
        "ref": "acme-west",
        "name": "Acme West",
        "email": "billing@west.acme.test",
        "parent": "acme",
        "retry_days": None,
        "last_chance_day": 0,
    },
    {"ref": "nimbus", "name": "Nimbus Cloud", "email": "accounts@nimbus.test", "parent": None},
    # Sells in yen (no minor unit): the panels and the API show whole yen.
    {"ref": "acme-japan", "name": "Acme Japan", "email": "billing@jp.acme.test", "parent": "acme"},
]

CATEGORIES = [
    {"ref": "hosting", "name": "Web hosting", "grace_days": 15, "auto_renew_supported": True},
    {"ref": "domain", "name": "Domains", "grace_days": 30, "auto_renew_supported": True},
    {"ref": "vps", "name": "VPS", "grace_days": 7, "auto_renew_supported": True},
    # Renewing a certificate by hand asks for a CSR naming the order's domain.
    {"ref": "ssl", "name": "SSL certificates", "grace_days": 7, "auto_renew_supported": False,
     "renewal_needs_csr": True},
]  # fmt: skip

PLANS = [
    {"ref": "hosting-starter", "name": "Hosting Starter", "category": "hosting",
     "prices": {"1": "4.99", "3": "13.99", "6": "26.99", "12": "49.99", "24": "94.99"}},
    {"ref": "hosting-business", "name": "Hosting Business", "category": "hosting",
     "prices": {"1": "12.00", "3": "34.00", "12": "129.00", "36": "349.00"}},
    {"ref": "domain-com", "name": ".com domain", "category": "domain",
     "prices": {"12": "12.99", "24": "25.49", "60": "62.00"}},
    {"ref": "domain-io", "name": ".io domain", "category": "domain", "prices": {"12": "39.00", "24": "77.00"}},
    {"ref": "vps-s", "name": "VPS S (2 vCPU, 4 GB)", "category": "vps",
     "prices": {"1": "20.00", "3": "57.00", "6": "110.00", "12": "216.00"}},
    {"ref": "vps-l", "name": "VPS L (8 vCPU, 16 GB)", "category": "vps",
     "prices": {"1": "64.00", "3": "186.00", "12": "700.00"}, "lead_days": 10},
    {"ref": "ssl-dv", "name": "SSL DV certificate", "category": "ssl",
     "prices": {"12": "15.00", "24": "28.00"}, "auto_renew_allowed": False},
    {"ref": "hosting-lifetime", "name": "Hosting Lifetime", "category": "hosting",
     "prices": {"1": "0.00"}, "endless": True, "auto_renew_allowed": False},
]  # fmt: skip

# Acme Japan's plans, priced in yen.
YEN_PLANS = [
    {"ref": "jp-hosting", "name": "Hosting Starter (JP)", "category": "hosting", "currency": "JPY",
     "prices": {"1": "550", "3": "1540", "12": "5500"}},
    {"ref": "jp-domain", "name": ".jp domain", "category": "domain", "currency": "JPY", "prices": {"12": "3300"}},
    {"ref": "jp-vps", "name": "VPS S (JP)", "category": "vps", "currency": "JPY",
     "prices": {"1": "2980", "12": "32780"}},
]  # fmt: skip
# (ref, name, balance, credit limit): Acme Japan's customers, who pay in yen.
YEN_CUSTOMERS = [
    ("c031", "Kenji Sato", "12000", "0"),
    ("c032", "Yui Suzuki", "980", "5000"),
    ("c033", "Haruto Ito", "0", "0"),
]

FIRST = ["Jane", "Omar", "Lena", "Ravi", "Sofia", "Tom", "Aiko", "Marek", "Nia", "Pablo", "Greta", "Yusuf",
         "Chloe", "Ivan", "Maya", "Hugo", "Zara", "Luca", "Amara", "Finn", "Elif", "Kofi", "Ines", "Jonas",
         "Mei", "Rosa", "Sven", "Tariq", "Vera", "Wen"]  # fmt: skip
LAST = ["Doe", "Haddad", "Novak", "Iyer", "Rossi", "Becker", "Tanaka", "Kowalski", "Okafor", "Garcia", "Lind",
        "Demir", "Martin", "Petrov", "Cohen", "Dubois", "Khan", "Bianchi", "Mensah", "Larsen", "Aydin", "Boateng",
        "Silva", "Weber", "Chen", "Moreno", "Berg", "Aziz", "Horvat", "Liu"]  # fmt: skip
SITES = ["studio", "bakery", "garage", "atelier", "clinic", "books", "coffee", "travel", "photo", "law",
         "yoga", "garden", "print", "music", "tech"]  # fmt: skip


def build_demo_document(today: datetime.date, seed: int = 2026) -> dict:
    """The demo portal as of ``today``: 4 resellers, 34 customers (3 paying in
    yen, 1 the own account of the sub-reseller Acme West), ~300 orders."""
    rng = random.Random(seed)
    customers = []
    orders = []
    owners = ["acme"] * 14 + ["acme-west"] * 6 + ["nimbus"] * 10
    for index, reseller in enumerate(owners, start=1):
        ref = f"c{index:03d}"
        name = f"{FIRST[index - 1]} {LAST[index - 1]}"
        credit = rng.choice(["0.00", "0.00", "0.00", "50.00", "100.00"])
        customers.append(
            {
                "ref": ref,
                "name": name,
                "email": f"{FIRST[index - 1].lower()}.{LAST[index - 1].lower()}@example.test",
                "reseller": reseller,
                "balance": f"{rng.choice([0, 10, 25, 40, 80, 150, 300, 600])}.{rng.choice(['00', '50', '99'])}",
                "credit_limit": credit,
                "auto_renew": index == 1 or rng.random() > 0.15,
                "allow_auto_renew": rng.random() > 0.05,
            }
        )
        count = 12 if index == 1 else rng.randint(6, 13)
        for number in range(1, count + 1):
            orders.append(_order(rng, today, f"{ref}-o{number:02d}", ref, number))
    # After the others, so their random draws stay as they were.
    for ref, name, balance, credit in YEN_CUSTOMERS:
        first, last = name.split()
        customers.append(
            {
                "ref": ref,
                "name": name,
                "email": f"{first.lower()}.{last.lower()}@example.test",
                "reseller": "acme-japan",
                "currency": "JPY",
                "balance": balance,
                "credit_limit": credit,
                "auto_renew": True,
                "allow_auto_renew": True,
            }
        )
        for number in range(1, rng.randint(4, 6) + 1):
            orders.append(_order(rng, today, f"{ref}-o{number:02d}", ref, number, plans=YEN_PLANS, weights=[5, 3, 2]))
    _per_order_settings(today, customers, orders)
    return {
        "format": "renewal-portal/v1",
        "currency": "USD",
        "resellers": [{**r, "allow_auto_renew": True} for r in RESELLERS],
        "categories": CATEGORIES,
        "plans": PLANS + YEN_PLANS,
        "customers": customers,
        "orders": orders,
    }


def _order(
    rng: random.Random,
    today: datetime.date,
    ref: str,
    customer: str,
    number: int,
    *,
    plans: list | None = None,
    weights: list | None = None,
) -> dict:
    plan = rng.choices(plans or PLANS, weights=weights or [24, 10, 22, 6, 14, 5, 8, 2])[0]
    tenures = [int(m) for m in plan["prices"]]
    tenure = rng.choice(tenures)
    grace = next(c["grace_days"] for c in CATEGORIES if c["ref"] == plan["category"])
    order = {
        "ref": ref,
        "customer": customer,
        "plan": plan["ref"],
        "tenure_months": tenure,
        "auto_renew": rng.random() > 0.3,
        "payment_source": "card" if rng.random() < 0.1 else "balance",
    }
    if plan.get("endless"):
        return {**order, "expires_on": None, "auto_renew": False}
    window = 7 if tenure <= 3 else 30
    roll = rng.random()
    status = "active"
    if roll < 0.27:  # due within the attempt window: tonight's sweep has work
        expires = today + datetime.timedelta(days=rng.randint(0, window))
    elif roll < 0.37:  # expiring soon, not yet due
        expires = today + datetime.timedelta(days=rng.randint(window + 1, window + 30))
    elif roll < 0.47:  # in grace: suspended, waiting for a renewal
        expires = today - datetime.timedelta(days=rng.randint(1, grace))
        status = "suspended"
    elif roll < 0.52:  # past grace: terminated
        expires = today - datetime.timedelta(days=rng.randint(grace + 1, grace + 90))
        status = "terminated"
    else:  # comfortably paid
        expires = add_months(today, rng.randint(1, 23)) + datetime.timedelta(days=rng.randint(0, 27))
    flags = rng.random()
    extra = {}
    if flags < 0.03:
        extra["locked"] = True
    elif flags < 0.06:
        extra["stopped"] = True
    elif flags < 0.08:
        extra["pending_action"] = True
    elif flags < 0.13:
        extra["do_not_renew"] = True
        extra["auto_renew"] = False
    elif flags < 0.18:
        extra["auto_renew_locked"] = True
    return {**order, "expires_on": expires.isoformat(), "status": status, **extra}


def _per_order_settings(today: datetime.date, customers: list[dict], orders: list[dict]) -> None:
    """SPEC "Per-order settings, open renewals, resellers as customers", each
    shown once (no random draws, so the orders above stay as they were):

    - Jane (the `customer` login): c001-o13, sold at an individual price
      that returns to the plan's after its renewal, in tonight's window; and
      c001-o14, whose own auto-renew point (14 days) makes it due before its
      plan's (7 days).
    - Acme West's own account (c034, held with Acme Hosting above it; the
      `west` login's "Our orders"), with a standing renewal day: an order
      the sweep renews tonight (invoiced by Acme Hosting), a domain waiting
      for payment by hand, and a deal kept for later renewals.
    - Every domain and certificate carries its domain: renewing a
      certificate (the `ssl` category asks for a CSR) checks the CSR names it.
    - Jane's c001-o15, a domain whose first attempt (in 30 days) comes after
      her saved card expires (``expiring_card``): tonight's card_expiring notice.
    """
    names = {c["ref"]: c["name"] for c in customers}
    for order in orders:
        if order["plan"].startswith(("domain-", "jp-domain", "ssl-")):
            last = names[order["customer"]].split()[-1].lower()
            order["domain"] = f"{last}-{SITES[int(order['ref'][-2:]) % len(SITES)]}.example"

    def day(days: int) -> str:
        return (today + datetime.timedelta(days=days)).isoformat()

    orders.append(
        {"ref": "c001-o13", "customer": "c001", "plan": "hosting-business", "tenure_months": 12,
         "expires_on": day(20), "auto_renew": True, "individual_price": "99.00", "after_renewal": "plan"}
    )  # fmt: skip
    orders.append(
        {"ref": "c001-o14", "customer": "c001", "plan": "vps-s", "tenure_months": 1, "expires_on": day(12),
         "auto_renew": True, "lead_days": 14}
    )  # fmt: skip
    # Jane's domain first tried in 30 days (12 months: lead 30), after her
    # saved card runs out (expiring_card): the night warns her (card_expiring).
    orders.append(
        {"ref": "c001-o15", "customer": "c001", "plan": "domain-com", "tenure_months": 12, "expires_on": day(60),
         "auto_renew": True, "domain": "doe-shop.example"}
    )  # fmt: skip
    customers.append(
        {"ref": "c034", "name": "Acme West", "email": "billing@west.acme.test", "reseller": "acme",
         "owner_reseller": "acme-west", "balance": "400.00", "credit_limit": "0.00", "auto_renew": True,
         "allow_auto_renew": True, "renewal_day": 15, "retry_exempt": True}
    )  # fmt: skip
    orders.extend(
        [
            {"ref": "c034-o01", "customer": "c034", "plan": "hosting-business", "tenure_months": 12,
             "expires_on": day(25), "auto_renew": True},
            {"ref": "c034-o02", "customer": "c034", "plan": "domain-com", "tenure_months": 12,
             "expires_on": day(5), "auto_renew": False, "domain": "acme-west.example"},
            {"ref": "c034-o03", "customer": "c034", "plan": "vps-l", "tenure_months": 3,
             "expires_on": add_months(today, 2).isoformat(), "auto_renew": True, "individual_price": "170.00",
             "after_renewal": "keep"},
        ]
    )  # fmt: skip


def expiring_card(today: datetime.date) -> tuple[int, int]:
    """(month, year) of the demo's expiring card (Jane's, saved by seed_demo
    when Stripe is configured): the month before the one 30 days from
    ``today``, so it runs out before c001-o15's first attempt on that day."""
    before = (today + datetime.timedelta(days=30)).replace(day=1) - datetime.timedelta(days=1)
    return before.month, before.year
