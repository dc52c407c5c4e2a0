import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from balances.models import Account
from catalog.models import Category, Plan, PlanPrice
from orders.models import Order
from tenants.models import Customer, Membership, Reseller


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller
        skip_postgeneration_save = True

    ref = factory.Sequence(lambda n: f"r{n}")
    name = factory.Sequence(lambda n: f"Reseller {n}")
    email = factory.LazyAttribute(lambda o: f"billing@{o.ref}.test")
    invoice_prefix = factory.Sequence(lambda n: f"R{n}")
    parent = None

    @factory.post_generation
    def set_path(obj, create, extracted, **kwargs):
        obj.path = f"{obj.parent.path if obj.parent else '/'}{obj.pk}/"
        obj.save(update_fields=["path"])


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    ref = factory.Sequence(lambda n: f"c{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.LazyAttribute(lambda o: f"{o.ref}@example.test")
    reseller = factory.SubFactory(ResellerFactory)

    @factory.post_generation
    def account(obj, create, extracted, **kwargs):
        Account.objects.create(customer=obj, **kwargs)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("ref",)

    ref = "hosting"
    name = "Web hosting"
    grace_days = 15


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        skip_postgeneration_save = True

    ref = factory.Sequence(lambda n: f"plan{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    category = factory.SubFactory(CategoryFactory)

    @factory.post_generation
    def prices(obj, create, extracted, **kwargs):
        for months, amount in (extracted or {1: "10.00", 3: "27.00", 12: "100.00"}).items():
            PlanPrice.objects.create(plan=obj, months=months, amount=Decimal(amount))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    ref = factory.Sequence(lambda n: f"o{n}")
    customer = factory.SubFactory(CustomerFactory)
    plan = factory.SubFactory(PlanFactory)
    tenure_months = 1
    expires_on = datetime.date(2026, 12, 10)
    anchor_day = factory.LazyAttribute(lambda o: o.expires_on.day if o.expires_on else None)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw")
        if create:
            obj.save(update_fields=["password"])


def member(*, customer=None, reseller=None, **kwargs):
    user = UserFactory(**kwargs)
    Membership.objects.create(user=user, customer=customer, reseller=reseller)
    return user
