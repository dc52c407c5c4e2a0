from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from balances.models import Account, LedgerEntry
from interchange.management.commands.import_portal import Command as ImportCommand
from orders.models import Order
from tenants.models import Customer, Reseller

pytestmark = pytest.mark.django_db


def load(path):
    call_command("import_portal", path)


def errors_of(path):
    with pytest.raises(CommandError) as exc:
        call_command("import_portal", path)
    assert exc.value.returncode == 1
    return str(exc.value)


def test_spec_example_loads_with_defaults(doc, write, assert_invariants):
    del doc["orders"][0]["auto_renew"]  # default false
    load(write(doc))
    order = Order.objects.select_related("customer__account", "plan__category").get(ref="o1")
    assert order.auto_renew is False
    assert order.anchor_day == 1  # default: the day of expires_on
    assert order.plan.category.grace_days == 15
    assert {p.months: p.amount for p in order.plan.prices.all()} == {
        1: Decimal("10.00"),
        3: Decimal("27.00"),
        12: Decimal("100.00"),
    }
    account = order.customer.account
    assert (account.balance, account.currency, account.auto_renew) == (Decimal("50.00"), "USD", True)
    assert order.customer.allow_auto_renew is True
    opening = LedgerEntry.objects.get()
    assert (opening.kind, opening.amount) == ("opening", Decimal("50.00"))
    assert_invariants()


def test_bad_file_lists_every_error_by_path_and_writes_nothing(doc, write, snapshot):
    load(write(doc))  # a portal that already holds data
    before = snapshot()
    bad = dict(doc)
    bad["categories"] = [{"ref": "vps", "name": "VPS", "grace_days": "7"}]  # wrong type
    bad["plans"] = [dict(doc["plans"][0], prices={"1": "-10.00", "12": "100.00"})]  # negative price
    bad["customers"] = [dict(doc["customers"][0], balance=75)]  # wrong type: amounts are strings
    bad["orders"] = [
        dict(doc["orders"][0], expires_on="2026-02-30"),  # bad date
        dict(doc["orders"][0], ref="o2", customer="nobody"),  # unknown ref
        {k: v for k, v in doc["orders"][0].items() if k != "tenure_months"} | {"ref": "o3"},  # missing key
        dict(doc["orders"][0], ref="o4", plan="gold"),  # unknown ref
    ]
    message = errors_of(write(bad))
    for expected in [
        'categories[0].grace_days: must be a whole number, not "7"',
        'plans[0].prices["1"]: a price must not be negative (-10.00)',
        'customers[0].balance: must be a string such as "10.00", not int',
        'orders[0].expires_on: not a date ("2026-02-30"; expected YYYY-MM-DD)',
        'orders[1].customer: unknown customer "nobody"',
        "orders[2].tenure_months: required",
        'orders[3].plan: unknown plan "gold"',
    ]:
        assert expected in message
    assert "7 error(s); nothing was written" in message
    assert snapshot() == before


def test_command_line_exits_1_and_prints_the_errors(doc, write, capsys, monkeypatch):
    # run_from_argv is what manage.py calls; it closes the connections at the
    # end, which would pull the test's own transaction away.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    doc["orders"][0]["expires_on"] = "tomorrow"
    with pytest.raises(SystemExit) as exc:
        ImportCommand().run_from_argv(["manage.py", "import_portal", write(doc)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'orders[0].expires_on: not a date ("tomorrow"; expected YYYY-MM-DD)' in err
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d.update(format="renewal-portal/v2"),
            'format: must be "renewal-portal/v1", not "renewal-portal/v2"',
        ),
        (lambda d: d.pop("format"), 'format: required (must be "renewal-portal/v1")'),
        (lambda d: d.update(currency="dollars"), "currency: must be a three-letter ISO code"),
        (lambda d: d.update(orders={}), "orders: must be a list, not an object"),
        (lambda d: d["orders"].append(7), "orders[1]: must be an object, not a number"),
        (lambda d: d["orders"].append(dict(d["orders"][0])), 'orders[1].ref: "o1" is used twice (also orders[0])'),
        (lambda d: d["resellers"][0].pop("name"), "resellers[0].name: required"),
        (lambda d: d["resellers"][0].update(parent="r1"), 'resellers[0].parent: "r1" makes a loop'),
        (lambda d: d["resellers"][0].update(parent="ghost"), 'resellers[0].parent: unknown reseller "ghost"'),
        (lambda d: d["resellers"][0].update(email="not-an-email"), "resellers[0].email: not an email address"),
        (lambda d: d["categories"][0].pop("grace_days"), "categories[0].grace_days: required"),
        (lambda d: d["categories"][0].update(grace_days=-1), "categories[0].grace_days: must be from 0 to 3650"),
        (lambda d: d["plans"][0].pop("prices"), "plans[0].prices: required"),
        (lambda d: d["plans"][0].update(prices={}), "plans[0].prices: must be an object of months to amounts"),
        (lambda d: d["plans"][0].update(prices={"one": "1.00"}), 'plans[0].prices["one"]: the tenure must be'),
        (lambda d: d["plans"][0].update(prices={"1": "1.001"}), 'plans[0].prices["1"]: "1.001" is finer than USD'),
        (lambda d: d["plans"][0].update(prices={"1": "ten"}), 'plans[0].prices["1"]: not an amount ("ten")'),
        (lambda d: d["plans"][0].update(category="nope"), 'plans[0].category: unknown category "nope"'),
        (lambda d: d["plans"][0].update(lead_days=28), "plans[0].lead_days: must be shorter than the shortest"),
        (lambda d: d["plans"][0].update(endless="no"), 'plans[0].endless: must be true or false, not "no"'),
        (lambda d: d["customers"][0].update(credit_limit="-5.00"), "customers[0].credit_limit: must not be negative"),
        (lambda d: d["customers"][0].update(balance="-5.00"), "customers[0].balance: -5.00 is below the credit limit"),
        (lambda d: d["customers"][0].update(reseller=None), "customers[0].reseller: must be a non-empty string ref"),
        (lambda d: d["customers"][0].update(stripe_payment_method_id="pm_1"), "needs the stripe_customer_id"),
        (lambda d: d["orders"][0].update(tenure_months=6), 'plan "basic" has no price for 6 months (it has 1, 3, 12)'),
        (lambda d: d["orders"][0].update(tenure_months=0), "orders[0].tenure_months: must be at least 1, not 0"),
        (lambda d: d["orders"][0].update(tenure_months=True), "orders[0].tenure_months: must be a whole number"),
        (lambda d: d["orders"][0].update(status="paused"), "orders[0].status: must be one of active, suspended"),
        (lambda d: d["orders"][0].update(payment_source="paypal"), "orders[0].payment_source: must be one of"),
        (lambda d: d["orders"][0].update(expires_on=None), "orders[0].expires_on: null is only for endless plans"),
        (lambda d: d["orders"][0].update(expires_on=20261201), "orders[0].expires_on: not a date"),
        (lambda d: d["orders"][0].update(anchor_day=31), "orders[0].anchor_day: 31 does not fit expires_on"),
        (lambda d: d["orders"][0].update(anchor_day=32), "orders[0].anchor_day: must be from 1 to 31"),
        (lambda d: d["orders"][0].update(locked="yes"), 'orders[0].locked: must be true or false, not "yes"'),
        (lambda d: d["orders"][0].pop("expires_on"), "orders[0].expires_on: required"),
    ],
)
def test_each_rule_names_its_path(doc, write, mutate, expected):
    mutate(doc)
    assert expected in errors_of(write(doc))
    assert not Customer.objects.exists()


def test_not_json_says_where(write):
    assert "file: not valid JSON (Expecting ',' delimiter at line 1, column 9)" in errors_of(write('{"a": 1 "b"}'))


def test_importing_twice_changes_nothing(doc, write, snapshot, assert_invariants):
    path = write(doc)
    load(path)
    first = snapshot()
    load(path)
    assert snapshot() == first
    assert_invariants()


def test_export_of_an_import_gives_the_same_data_back(doc, write, export):
    load(write(doc))
    data = export()
    assert data["format"] == "renewal-portal/v1"
    assert data["resellers"] == [dict(doc["resellers"][0], invoice_prefix="R1")]
    # Each optional key written back with its default.
    assert data["categories"] == [dict(doc["categories"][0], renewal_needs_csr=False)]
    assert data["plans"] == [dict(doc["plans"][0], currency="USD")]
    customer = data["customers"][0]
    assert customer == dict(
        doc["customers"][0],
        ledger_total="50.00",
        allow_auto_renew=True,
        currency="USD",
        stripe_customer_id=None,
        stripe_payment_method_id=None,
        renewal_day=None,
        owner_reseller=None,
        retry_exempt=False,
    )
    assert data["orders"] == [
        dict(doc["orders"][0], anchor_day=1, lead_days=None, individual_price=None, after_renewal="keep", domain="")
    ]
    assert data["invoices"] == []
    assert data["messages"] == []


def test_reimporting_an_export_changes_nothing_and_round_trips(doc, write, export, snapshot):
    doc["customers"][0].update(stripe_customer_id="cus_1", stripe_payment_method_id="pm_1")
    doc["orders"].append(dict(doc["orders"][0], ref="o2", expires_on="2027-02-28", anchor_day=31, tenure_months=12))
    load(write(doc))
    before = snapshot()
    exported = export()
    load(write(exported, "export.json"))
    assert snapshot() == before


def test_an_account_that_owes_the_processor_round_trips(doc, write, export, snapshot, assert_invariants):
    """A refund took the balance below the credit limit (only the processor's
    movements may): its export imports again, changing nothing; a file that
    puts another balance there is still refused."""
    from balances.services import ledger_post
    from tenants.scope import Actor

    load(write(doc))
    account_id = LedgerEntry.objects.get().account_id
    ledger_post(
        actor=Actor.system("t"), account_id=account_id, amount=Decimal("-80.00"), kind="refund", reference="re_1"
    )
    before = snapshot()
    exported = export()
    assert exported["customers"][0]["balance"] == "-30.00"
    load(write(exported, "export.json"))
    assert snapshot() == before
    exported["customers"][0]["balance"] = "-40.00"
    with pytest.raises(CommandError, match=r"customers\[0\]\.balance: -40\.00 is below the credit limit"):
        load(write(exported, "export.json"))
    assert_invariants()


def test_reimport_with_another_balance_posts_the_difference(doc, write, export, assert_invariants):
    load(write(doc))
    doc["customers"][0]["balance"] = "20.00"
    load(write(doc))
    entries = list(LedgerEntry.objects.order_by("pk").values_list("kind", "amount"))
    assert entries == [("opening", Decimal("50.00")), ("adjustment", Decimal("-30.00"))]
    customer = export()["customers"][0]
    assert (customer["balance"], customer["ledger_total"]) == ("20.00", "20.00")
    assert_invariants()


def test_reimport_into_debt_widens_the_credit_limit_first(doc, write, assert_invariants):
    load(write(doc))
    doc["customers"][0].update(balance="-40.00", credit_limit="40.00")
    load(write(doc))
    account = Account.objects.get()
    assert (account.balance, account.credit_limit) == (Decimal("-40.00"), Decimal("40.00"))
    doc["customers"][0].update(balance="10.00", credit_limit="0.00")
    load(write(doc))
    account.refresh_from_db()
    assert (account.balance, account.credit_limit) == (Decimal("10.00"), Decimal("0.00"))
    assert_invariants()


def test_changes_on_reimport_are_audited(doc, write):
    load(write(doc))
    doc["plans"][0]["prices"]["1"] = "12.00"
    doc["orders"][0]["auto_renew"] = False
    load(write(doc))
    price = AuditEvent.objects.get(action="plan.prices")
    assert price.before["1"] == "10.00"
    assert price.after["1"] == "12.00"
    switch = AuditEvent.objects.get(action="order.auto_renew")
    assert (switch.before, switch.after, switch.actor_label, switch.reason) == (True, False, "import", "import")


def test_reimport_cannot_resurrect_a_terminated_order(doc, write):
    doc["orders"][0]["status"] = "suspended"
    load(write(doc))
    doc["orders"][0]["status"] = "terminated"
    load(write(doc))
    doc["orders"][0]["status"] = "active"
    assert 'orders[0].status: order "o1": cannot go from terminated to active: terminated is final' in errors_of(
        write(doc)
    )


def test_a_later_file_may_refer_to_objects_already_imported(doc, write):
    load(write(doc))
    later = {
        "format": "renewal-portal/v1",
        "orders": [dict(doc["orders"][0], ref="o9", expires_on="2027-01-15")],
    }
    load(write(later))
    assert Order.objects.get(ref="o9").customer.ref == "c1"


def test_endless_orders(doc, write):
    doc["plans"].append(
        {"ref": "life", "name": "Lifetime", "category": "hosting", "prices": {"1": "0.00"}, "endless": True}
    )
    doc["orders"].append({"ref": "o2", "customer": "c1", "plan": "life", "tenure_months": 1, "expires_on": None})
    load(write(doc))
    order = Order.objects.get(ref="o2")
    assert (order.expires_on, order.anchor_day, order.status) == (None, None, "active")
    doc["orders"][1]["expires_on"] = "2027-01-01"
    assert 'orders[1].expires_on: must be null: plan "life" is endless' in errors_of(write(doc))


def test_sub_resellers_and_unknown_keys(doc, write, capsys):
    doc["resellers"].append({"ref": "r2", "name": "Acme West", "parent": "r1", "colour": "red"})
    doc["customers"].append({"ref": "c2", "name": "Will", "reseller": "r2"})
    call_command("import_portal", write(doc))
    assert "warning: resellers[1].colour: unknown key, ignored" in capsys.readouterr().err
    west = Reseller.objects.get(ref="r2")
    assert west.path == f"{Reseller.objects.get(ref='r1').path}{west.pk}/"
    assert Account.objects.get(customer__ref="c2").balance == Decimal("0.00")


def test_duplicate_invoice_prefix_is_refused(doc, write):
    doc["resellers"][0]["invoice_prefix"] = "ACME"
    doc["resellers"].append({"ref": "r2", "name": "Other", "invoice_prefix": "ACME"})
    assert 'resellers[1].invoice_prefix: "ACME" already belongs to reseller "r1"' in errors_of(write(doc))


def test_plan_currency_must_match_the_account(doc, write):
    doc["customers"][0]["currency"] = "EUR"
    assert 'orders[0].plan: plan "basic" is priced in USD, but customer "c1" pays in EUR' in errors_of(write(doc))


def test_export_to_a_file(doc, write, tmp_path):
    load(write(doc))
    target = tmp_path / "out.json"
    call_command("export_portal", "--output", str(target))
    import json

    assert json.loads(target.read_text())["orders"][0]["ref"] == "o1"


def test_migrated_card_references_become_the_default_saved_card(doc, write, snapshot):
    from payments.models import Card

    doc["customers"][0].update(stripe_customer_id="cus_1", stripe_payment_method_id="pm_1")
    load(write(doc))
    card = Card.objects.get()
    assert (card.stripe_payment_method_id, card.is_default, card.account.customer.ref) == ("pm_1", True, "c1")
    before = snapshot()
    load(write(doc))
    assert snapshot() == before
    doc["customers"][0]["stripe_payment_method_id"] = "pm_2"
    load(write(doc))
    assert list(Card.objects.order_by("pk").values_list("stripe_payment_method_id", "is_default")) == [
        ("pm_1", False),
        ("pm_2", True),
    ]
