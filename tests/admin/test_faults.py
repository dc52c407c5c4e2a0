"""Faults of the nightly work in Django admin: listed, filtered, read only,
with the traceback; resolved by an action that view-only staff may not run."""

import datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from core.isolation import Subject, fault_record
from core.models import Fault, Stage
from core.services import faults_resolve
from tenants.scope import Actor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
D = datetime.date
CHANGELIST = reverse("admin:core_fault_changelist")
NIGHT = D(2026, 12, 3)


def fault(stage=Stage.SWEEP, key="account:1", label="customer c1 (Jane Doe)", on=NIGHT, message="no price"):
    try:
        raise ValueError(f"{message}\nsecond line of the message")
    except ValueError as exc:
        return fault_record(stage=stage, subject=Subject(key, label, 1, ("o1", "o2")), on=on, error=exc, run_id=7)


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def viewer(client):
    user = UserFactory(username="watcher", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_fault"))
    client.force_login(user)
    return client


def resolve(client, faults):
    data = {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [f.pk for f in faults]}
    return client.post(CHANGELIST, data)


def test_the_list_shows_each_fault_with_its_first_error_line(operator):
    fault()
    page = operator.get(CHANGELIST).content.decode()
    for text in ("2026-12-03", "Auto-renew sweep", "customer c1 (Jane Doe)", "ValueError: no price"):
        assert text in page
    assert "second line of the message" not in page  # the list shows the first line only
    assert 'alt="False"' in page  # neither alerted nor resolved yet


def test_filters_by_stage_resolution_and_date(operator):
    open_sweep = fault(key="account:1", label="sweep one")
    fault(stage=Stage.HOOKS, key="event:2", label="hook one")
    resolved = fault(key="account:3", label="resolved one")
    old = fault(key="account:4", label="old one", on=D(2026, 11, 1))
    faults_resolve(actor=Actor.system("test"), ids=[resolved.pk])

    def shown(**params):
        return set(operator.get(CHANGELIST, params).context["cl"].result_list)

    assert shown(stage="hooks") == {Fault.objects.get(subject="event:2")}
    assert shown(resolved="no", stage="sweep") == {open_sweep, old}
    assert shown(resolved="yes") == {resolved}
    assert shown(business_date__gte="2026-12-01", business_date__lt="2026-12-31", stage="sweep") == {
        open_sweep,
        resolved,
    }


def test_the_detail_page_shows_the_traceback(operator):
    record = fault()
    page = operator.get(reverse("admin:core_fault_change", args=[record.pk])).content.decode()
    assert 'class="fault-traceback"' in page
    assert "Traceback (most recent call last)" in page
    assert "second line of the message" in page
    assert "o1" in page
    assert "o2" in page


def test_faults_are_read_only(operator):
    record = fault()
    assert operator.get(reverse("admin:core_fault_add")).status_code == 403
    response = operator.post(reverse("admin:core_fault_change", args=[record.pk]), {"label": "edited"})
    assert response.status_code == 403
    assert operator.post(reverse("admin:core_fault_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
    assert Fault.objects.get(pk=record.pk).label == "customer c1 (Jane Doe)"


def test_an_operator_marks_faults_resolved(operator):
    first, second = fault(key="account:1"), fault(key="account:2")
    response = operator.post(
        CHANGELIST, {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}, follow=True
    )
    assert "Marked 2 fault(s) resolved." in response.content.decode()
    for record in Fault.objects.all():
        assert record.resolved_at is not None
        assert record.resolved_by == "ops"


def test_view_only_staff_see_faults_but_may_not_resolve_them(viewer):
    record = fault()
    page = viewer.get(CHANGELIST)
    assert page.status_code == 200
    assert "mark_resolved" not in page.content.decode()
    assert resolve(viewer, [record]).status_code == 403
    assert Fault.objects.get(pk=record.pk).resolved_at is None


def test_resolving_twice_keeps_who_resolved_it_first():
    record = fault()
    assert faults_resolve(actor=Actor.system("first"), ids=[record.pk]) == 1
    assert faults_resolve(actor=Actor.system("second"), ids=[record.pk]) == 0
    assert Fault.objects.get(pk=record.pk).resolved_by == "first"


def test_a_fault_that_recurs_is_open_again():
    record = fault()
    faults_resolve(actor=Actor.system("ops"), ids=[record.pk])
    fault()  # the same subject fails again on the same date
    again = Fault.objects.get(pk=record.pk)
    assert (again.resolved_at, again.resolved_by, again.occurrences) == (None, "", 2)
