import pytest

from balances.models import Account, LedgerEntry
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.rules import auto_renew_forbidden, invoice_prefix_for, tree_paths
from tenants.scope import ActorKind, actor_for_user
from tests.factories import CustomerFactory, OrderFactory, ResellerFactory, UserFactory, member


def test_tree_paths():
    assert tree_paths({1: None, 2: 1, 3: 2, 4: None}) == {1: "/1/", 2: "/1/2/", 3: "/1/2/3/", 4: "/4/"}


def test_tree_paths_refuse_a_loop():
    with pytest.raises(ValueError, match="its own ancestor"):
        tree_paths({1: 2, 2: 1})


def test_forbidding_auto_renew_covers_the_subtree():
    paths = {1: "/1/", 2: "/1/2/", 3: "/1/2/3/", 4: "/4/"}
    assert auto_renew_forbidden(paths, [2]) == {2, 3}
    assert auto_renew_forbidden(paths, [1]) == {1, 2, 3}
    assert auto_renew_forbidden(paths, []) == set()


def test_invoice_prefix_defaults_are_unique():
    assert invoice_prefix_for("acme-west") == "ACMEWEST"
    assert invoice_prefix_for("acme", taken={"ACME", "ACME2"}) == "ACME3"


@pytest.fixture
def world(db):
    """Acme with a sub-reseller West, and an unrelated reseller Nimbus."""
    acme = ResellerFactory()
    west = ResellerFactory(parent=acme)
    nimbus = ResellerFactory()
    jane = CustomerFactory(reseller=acme)
    will = CustomerFactory(reseller=west)
    nora = CustomerFactory(reseller=nimbus)
    orders = {c: OrderFactory(customer=c) for c in (jane, will, nora)}
    return {"acme": acme, "west": west, "nimbus": nimbus, "jane": jane, "will": will, "nora": nora, "orders": orders}


def visible(model, user):
    return set(model.objects.visible_to(actor_for_user(user)))


def test_customer_owner_and_colleague_see_their_own_and_outsider_sees_nothing(world):
    owner = member(customer=world["jane"])
    colleague = member(customer=world["jane"])
    outsider = member(customer=world["nora"])
    mine = {world["orders"][world["jane"]]}
    assert visible(Order, owner) == mine
    assert visible(Order, colleague) == mine
    assert world["orders"][world["jane"]] not in visible(Order, outsider)
    assert visible(Customer, owner) == {world["jane"]}
    assert visible(Account, owner) == {world["jane"].account}
    assert visible(Reseller, owner) == set()


def test_reseller_sees_its_subtree_and_nothing_else(world):
    staff = member(reseller=world["acme"])
    assert visible(Customer, staff) == {world["jane"], world["will"]}
    assert visible(Order, staff) == {world["orders"][world["jane"]], world["orders"][world["will"]]}
    assert visible(Reseller, staff) == {world["acme"], world["west"]}
    sub = member(reseller=world["west"])
    assert visible(Customer, sub) == {world["will"]}
    assert visible(Reseller, sub) == {world["west"]}
    other = member(reseller=world["nimbus"])
    assert visible(Customer, other) == {world["nora"]}


def test_a_reseller_path_prefix_is_not_a_sibling(db):
    # /1/ must not match /10/: paths end with a slash.
    resellers = [ResellerFactory() for _ in range(10)]
    first, tenth = resellers[0], resellers[9]
    CustomerFactory(reseller=tenth)
    staff = member(reseller=first)
    assert visible(Customer, staff) == set()


def test_platform_sees_all_and_strangers_see_nothing(world):
    admin = UserFactory(is_superuser=True, is_staff=True)
    assert actor_for_user(admin).kind == ActorKind.PLATFORM
    assert len(visible(Order, admin)) == 3
    nobody = UserFactory()
    assert actor_for_user(nobody).kind == ActorKind.NOBODY
    assert visible(Order, nobody) == set()
    assert visible(LedgerEntry, nobody) == set()
