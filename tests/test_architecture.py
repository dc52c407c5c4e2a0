"""House rules that a reviewer would otherwise have to remember."""

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = [p for p in ROOT.iterdir() if (p / "apps.py").exists()]


def python_files(name):
    for app in APPS:
        for path in [app / f"{name}.py", *(app / name).glob("*.py")]:
            if path.exists():
                yield path


def test_views_and_apis_never_query_models_directly():
    """Views call selectors (which take the actor and start from
    ``visible_to``), so a view cannot forget the tenant scope."""
    offenders = []
    for path in [*python_files("views"), *python_files("apis"), *python_files("api")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def database_imports(source: str) -> list[str]:
    """Where ``source`` imports Django's database layer (django.db or a part
    of it), at any depth of the module: "line: module"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name == "django.db" or name.startswith("django.db.")]
    return sorted(set(found))


def test_rules_modules_never_import_the_database_layer():
    """Pure rules are plain functions over plain values (STYLE.md), testable
    without a database. import-linter keeps them off the project's models,
    services and selectors (pyproject.toml); an external package's part
    (django.db rather than all of django) is beyond it, so it is checked here."""
    modules = sorted(p for p in ROOT.glob("*/**/rules.py") if ".venv" not in p.parts and "tests" not in p.parts)
    assert {"renewals/rules.py", "balances/rules.py"} <= {str(p.relative_to(ROOT)) for p in modules}
    offenders = [f"{p.relative_to(ROOT)}:{leak}" for p in modules for leak in database_imports(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "from django.db import models",
        "from django.db.models import Q",
        "import django.db.models",
        "from django import db",
        "def f():\n    from django.db import connection",
    ],
)
def test_the_database_import_check_catches_a_planted_import(source):
    assert database_imports(source) != []


def test_the_database_import_check_passes_other_imports():
    assert database_imports("import datetime\nfrom django.conf import settings\nfrom core.money import ZERO") == []


def test_no_float_near_money():
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "float":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "FloatField":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# --- The tenant wall beyond views: serializers, forms, the API's modules ---
#
# A serializer or form is where a request's ids become rows: a
# PrimaryKeyRelatedField or ModelChoiceField built on ``Order.objects.all()``
# accepts another tenant's order, and its validation error ("Invalid pk" vs
# "does not exist") even tells an outsider which ids exist. So every module a
# request's input passes through reaches a tenant-owned model only through
# ``visible_to(actor)`` (or a selector or service that starts there), with the
# request's actor, never one it made up.


def tenant_models() -> set[type]:
    """The tenant-owned models, from the app registry: those that know their
    way to the owning customer, or whose manager is a TenantQuerySet."""
    from django.apps import apps

    from tenants.scope import TenantQuerySet

    return {
        model
        for model in apps.get_models()
        if hasattr(model, "tenant_customer_lookup")
        or issubclass(getattr(model._default_manager, "_queryset_class", object), TenantQuerySet)
    }


def manager_names() -> set[str]:
    from django.apps import apps

    names = {"objects", "_default_manager", "_base_manager"}
    for model in apps.get_models():
        names.update(manager.name for manager in model._meta.managers)
    return names


def _is_admin(path: pathlib.Path) -> bool:
    # Django admin is for platform staff only (panels.views.common.home sends
    # them there; a customer or reseller login never reaches /admin/), so its
    # forms may list every tenant's rows.
    return "admin" in path.parts or path.stem == "admin" or path.stem.startswith("admin_")


def _defines_serializer_or_form(path: pathlib.Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name.endswith(("Serializer", "Form")):
                    return True
    return False


def request_facing_modules() -> list[pathlib.Path]:
    """Every module a request's input passes through on the way to a
    selector or service: views (both panels' and the API's), every module of
    the API app (its serializers and fields) and of ``once`` (the faces'
    pay-at-most-once services and their idempotency keys), and any
    serializers or forms module, or module defining one, in any app (admin
    excepted, see _is_admin)."""
    found = set()
    for name in ("views", "apis", "api", "serializers", "forms"):
        found.update(python_files(name))
    for app in ("api", "once"):
        found.update(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)
    for app in APPS:
        for path in app.rglob("*.py"):
            if "migrations" not in path.parts and _defines_serializer_or_form(path):
                found.add(path)
    return sorted(p for p in found if not _is_admin(p))


def _module_of(path: pathlib.Path):
    return importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


_UNKNOWN = object()


def _resolve(node, namespace):
    """What a name or a dotted name refers to in the module, or _UNKNOWN (a
    local variable, a call's result)."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id, _UNKNOWN)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        return _UNKNOWN if base is _UNKNOWN else getattr(base, node.attr, _UNKNOWN)
    if isinstance(node, ast.Call) and not node.args and not node.keywords:
        from django.contrib.auth import get_user_model

        if _resolve(node.func, namespace) is get_user_model:
            return get_user_model()  # the login model: keyed by the user, not a tenant
    return _UNKNOWN


def scope_leaks(source: str, namespace: dict, tenant: set[type], managers: set[str]) -> list[str]:
    """Where ``source`` (its names bound as in ``namespace``) may reach a
    tenant-owned model without the request's scope: "line: what"."""
    from django.db import models

    from tenants.scope import Actor

    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in managers:
            model = _resolve(node.value, namespace)
            what = f"{ast.unparse(node)}"
            parent = parents.get(node)
            through_scope = (
                isinstance(parent, ast.Attribute)
                and parent.attr == "visible_to"
                and isinstance(parents.get(parent), ast.Call)
            )
            if model in tenant:
                if not through_scope:
                    if isinstance(parent, ast.Attribute):
                        what = f"{what}.{parent.attr}"
                    found.append(f"{node.lineno}: {what} (a tenant-owned model not through visible_to(actor))")
            elif not (isinstance(model, type) and issubclass(model, models.Model)):
                # ``model.objects`` on something the checker can't name may be any model.
                found.append(f"{node.lineno}: {what} (a manager of a model the checker cannot name)")
        if isinstance(node, ast.Call):
            func = _resolve(node.func, namespace)
            name = getattr(func, "__name__", "")
            if name in ("get_object_or_404", "get_list_or_404") and node.args:
                if _resolve(node.args[0], namespace) in tenant:
                    found.append(f"{node.lineno}: {ast.unparse(node.func)}({ast.unparse(node.args[0])}, ...)")
            if func is Actor or func == Actor.system:
                # A made-up actor (a system one sees everything) instead of the request's.
                found.append(f"{node.lineno}: {ast.unparse(node.func)}(...) (an actor not from actor_for_user)")
    return found


def related_field_leaks(module, tenant: set[type]) -> list[str]:
    """The serializer and form classes the module defines whose writable
    related or model-choice fields draw from a tenant-owned model's rows:
    DRF builds such a field itself for a ModelSerializer's writable foreign
    key (on ``Related.objects.all()``), which no line of source shows."""
    from django import forms
    from rest_framework import serializers

    found = []

    def fields_of(serializer, prefix):
        if isinstance(serializer, serializers.ListSerializer):
            serializer = serializer.child
        for name, field in serializer.fields.items():
            if isinstance(field, serializers.ManyRelatedField):
                field = field.child_relation
            if isinstance(field, serializers.BaseSerializer):
                yield from fields_of(field, f"{prefix}{name}.")
            elif isinstance(field, serializers.RelatedField) and not field.read_only:
                yield f"{prefix}{name}", field.queryset

    for cls in vars(module).values():
        if not isinstance(cls, type) or cls.__module__ != module.__name__:
            continue
        if issubclass(cls, serializers.BaseSerializer):
            choices = list(fields_of(cls(), ""))
        elif issubclass(cls, forms.BaseForm):
            choices = [
                (name, field.queryset)
                for name, field in cls.base_fields.items()
                if isinstance(field, forms.ModelChoiceField)
            ]
        else:
            continue
        for name, queryset in choices:
            if queryset is not None and queryset.model in tenant:
                found.append(f"{cls.__name__}.{name} (chooses among every tenant's {queryset.model.__name__})")
    return found


# (module path, what scope_leaks or related_field_leaks says) -> why it is
# scoped after all. Each entry needs a comment naming the selector or service
# that scopes it; a stale entry fails the test below.
ALLOWED: dict[tuple[str, str], str] = {
    ("api/signals.py", "sender._default_manager (a manager of a model the checker cannot name)"): (
        # It reads the stored password hash of the login being saved, by its pk.
        "the pre_save handler's sender is the login model only (api.signals.connect: sender=get_user_model())"
    ),
}


def test_tenant_models_are_discovered_and_scoped():
    from tenants.scope import TenantQuerySet

    models = tenant_models()
    assert {m.__name__ for m in models} >= {"Customer", "Order", "Account", "LedgerEntry", "Invoice", "Card"}
    for model in models:
        # Every one has both halves: the lookup visible_to uses, and visible_to.
        assert hasattr(model, "tenant_customer_lookup"), model
        assert issubclass(model._default_manager._queryset_class, TenantQuerySet), model


def test_serializers_forms_and_api_reach_tenant_models_only_through_the_scope():
    tenant, managers = tenant_models(), manager_names()
    modules = request_facing_modules()
    scanned = {str(p.relative_to(ROOT)) for p in modules}
    # The checker must look where the leaks would be.
    assert {"api/serializers/orders.py", "once/services.py", "api/views/orders.py", "panels/forms.py"} <= scanned
    found = set()
    for path in modules:
        module = _module_of(path)
        where = str(path.relative_to(ROOT))
        for leak in scope_leaks(path.read_text(), vars(module), tenant, managers):
            line, what = leak.split(": ", 1)
            found.add((where, what, line))
        for what in related_field_leaks(module, tenant):
            found.add((where, what, "-"))
    offenders = sorted(f"{where}:{line}: {what}" for where, what, line in found if (where, what) not in ALLOWED)
    assert offenders == []
    stale = set(ALLOWED) - {(where, what) for where, what, _line in found}
    assert stale == set(), "allow-list entries that no longer match anything"


# The checker on planted code: it must catch each of these, so an empty
# result above means the code is clean, not that the checker is blind.
PLANTED = [
    ("order = Order.objects.get(pk=order_id)", "Order.objects.get"),
    ("rows = Order.objects.filter(customer_id=c).values('pk')", "Order.objects.filter"),
    ("total = LedgerEntry.objects.aggregate(x)", "LedgerEntry.objects.aggregate"),
    ("order = Order._default_manager.get(pk=1)", "Order._default_manager.get"),
    ("order = models_module.Order.objects.first()", "models_module.Order.objects.first"),
    (
        "class OrderPick(serializers.Serializer):\n"
        "    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all())",
        "Order.objects.all",
    ),
    (
        "class OrderPick(forms.Form):\n    order = forms.ModelChoiceField(queryset=Order.objects)",
        "Order.objects (a tenant",
    ),
    ("order = get_object_or_404(Order, pk=1)", "get_object_or_404(Order, ...)"),
    ("rows = Order.objects.visible_to(Actor.system())", "Actor.system(...)"),
    ("rows = Order.objects.visible_to(Actor(kind='platform', label='x'))", "Actor(...)"),
    ("def f(model):\n    return model.objects.get(pk=1)", "model.objects"),
]


@pytest.mark.parametrize(("source", "expected"), PLANTED, ids=[p[1] for p in PLANTED])
def test_the_checker_catches_a_planted_leak(source, expected):
    from django import forms
    from django.shortcuts import get_object_or_404
    from rest_framework import serializers

    from balances.models import LedgerEntry
    from orders import models as models_module
    from orders.models import Order
    from tenants.scope import Actor

    namespace = {
        "Order": Order,
        "LedgerEntry": LedgerEntry,
        "models_module": models_module,
        "serializers": serializers,
        "forms": forms,
        "get_object_or_404": get_object_or_404,
        "Actor": Actor,
    }
    leaks = scope_leaks(source, namespace, tenant_models(), manager_names())
    assert any(expected in leak for leak in leaks), leaks


def test_the_checker_passes_scoped_and_non_tenant_code():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group  # a model that is not a tenant's

    from orders.models import Order
    from tenants.scope import actor_for_user

    source = (
        "rows = Order.objects.visible_to(actor).filter(pk=1)\n"
        "rows = Order.objects.visible_to(actor_for_user(request.user))\n"
        "user = get_user_model().objects.select_for_update().get(pk=user.pk)\n"
        "group = Group.objects.get_or_create(name='staff')\n"
    )
    namespace = {"Order": Order, "Group": Group, "actor_for_user": actor_for_user, "get_user_model": get_user_model}
    assert scope_leaks(source, namespace, tenant_models(), manager_names()) == []


def test_the_checker_sees_a_model_serializers_own_foreign_key():
    """A ModelSerializer's writable foreign key is a PrimaryKeyRelatedField on
    every row of the related model, though no line of source says so."""
    import types

    from django import forms
    from rest_framework import serializers

    from invoices.models import Invoice
    from orders.models import Order

    planted = types.ModuleType("planted")

    class InvoiceIn(serializers.ModelSerializer):
        class Meta:
            model = Invoice
            fields = ["id", "customer", "number"]

    class OrderPick(forms.Form):
        order = forms.ModelMultipleChoiceField(queryset=Order.objects.all())

    class InvoiceOut(serializers.ModelSerializer):  # read-only: nothing chosen
        class Meta:
            model = Invoice
            fields = ["id", "customer", "number"]
            read_only_fields = fields

    for cls in (InvoiceIn, OrderPick, InvoiceOut):
        cls.__module__ = "planted"
        setattr(planted, cls.__name__, cls)
    assert related_field_leaks(planted, tenant_models()) == [
        "InvoiceIn.customer (chooses among every tenant's Customer)",
        "OrderPick.order (chooses among every tenant's Order)",
    ]
