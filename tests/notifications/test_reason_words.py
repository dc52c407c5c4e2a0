"""A failure notice says the same words however it was written.

Before, a failure notice stored only its reason's code and the processor's
words, and notifications looked the sentences up in renewals' rules when
rendering. Now renewals writes them on the notice, and a data migration
fills them in on the notices written before. ``failure_notices_before.json``
holds what every kind, reason and detail rendered to before the change
(subject, text and HTML, as a digest), captured on the code before it.
"""

import datetime
import hashlib
import importlib
import json
from pathlib import Path

import pytest
from django.apps import apps

from notifications.models import Notice
from renewals.notices import reason_words
from renewals.rules import Reason
from tenants.models import Customer
from tests.renewals.conftest import order

BEFORE = json.loads((Path(__file__).parent / "failure_notices_before.json").read_text())
migration = importlib.import_module("notifications.migrations.0004_notice_reason_words")

DETAIL = "Your card was declined (do_not_honor)."


def cases():
    for kind in ("renewal_failed", "renewal_last_chance", "reseller_failure"):
        for reason in [*Reason.values, ""]:
            for detail in ("", DETAIL):
                for last_chance in (False, True) if kind == "reseller_failure" else (None,):
                    yield kind, reason, detail, last_chance


def old_data(kind, reason, detail, last_chance) -> dict:
    """A failure notice's data as renewals wrote it before: no words."""
    data = {
        "orders": [
            {
                "ref": "o1",
                "product": "Basic, 1 month(s)",
                "paid_thru": "2026-12-10",
                "period": "2026-12-10 to 2027-01-10",
                "amount": "10.00 USD",
            }
        ],
        "total": "10.00 USD",
        "reason": reason,
        "detail": detail,
        "retry_until": "2026-12-10",
    }
    if last_chance is not None:
        data["last_chance"] = last_chance
    return data


def key(kind, reason, detail, last_chance) -> str:
    return f"{kind}|{reason}|{'detail' if detail else ''}|{last_chance}"


def digest(rendered) -> str:
    return hashlib.sha256(json.dumps([rendered.subject, rendered.text, rendered.html]).encode()).hexdigest()[:16]


def write(data_of) -> dict[str, int]:
    """A stored notice per case, its data ``data_of(case)``: {key: pk}."""
    customer = Customer.objects.get(ref="c1")
    return {
        key(*case): Notice.objects.create(
            kind=case[0],
            customer=customer,
            reseller_id=customer.reseller_id,
            recipient="jane@example.test",
            subject_key=key(*case),
            cycle="2026-12-03",
            business_date=datetime.date(2026, 12, 3),
            data=data_of(case),
        ).pk
        for case in cases()
    }


def renderings(pks: dict[str, int]) -> dict[str, str]:
    return {k: digest(Notice.objects.get(pk=pk).rendered()) for k, pk in pks.items()}


def test_the_captured_table_covers_every_kind_reason_and_detail():
    assert sorted(BEFORE) == sorted(key(*case) for case in cases())


@pytest.mark.django_db
def test_a_notice_written_before_renders_as_it_did_once_migrated(portal):
    portal([order("o1", datetime.date(2026, 12, 10))])
    pks = write(lambda case: old_data(*case))

    migration.fill_reason_words(apps, None)

    assert renderings(pks) == BEFORE
    notice = Notice.objects.get(pk=pks["renewal_failed|insufficient_funds||None"])
    assert notice.data["what_to_do"] == "Top up your balance or save a card before the expiry date."
    assert "Why: Your balance and credit limit do not cover the whole renewal" in notice.rendered().text


@pytest.mark.django_db
def test_a_notice_written_now_renders_as_one_written_before(portal):
    portal([order("o1", datetime.date(2026, 12, 10))])
    pks = write(lambda case: {**old_data(*case), **reason_words(case[1], case[2])})
    assert renderings(pks) == BEFORE


@pytest.mark.django_db
def test_the_migration_leaves_other_notices_and_written_words_alone(portal):
    portal([order("o1", datetime.date(2026, 12, 10))])
    customer = Customer.objects.get(ref="c1")
    common = {"customer": customer, "reseller_id": customer.reseller_id, "recipient": "j@x.test", "cycle": ""}
    today = datetime.date(2026, 12, 3)
    written = Notice.objects.create(
        kind="renewal_failed",
        subject_key="a",
        business_date=today,
        data={"reason": "card_declined", "detail": "", "why": "as written", "what_to_do": "as written too"},
        **common,
    )
    other = Notice.objects.create(kind="suspended", subject_key="b", business_date=today, data={"x": 1}, **common)

    migration.fill_reason_words(apps, None)

    written.refresh_from_db()
    other.refresh_from_db()
    assert (written.data["why"], written.data["what_to_do"]) == ("as written", "as written too")
    assert other.data == {"x": 1}
