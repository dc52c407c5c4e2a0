"""The idempotency keys move from the API app to ``once`` (once 0001-0003,
api 0004): only Django's record of the model moves, so a key stored before
keeps answering its replay afterwards, its content type follows it, and beat
purges the keys from then on."""

import datetime
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from once.idempotency import Answer, idempotency_claim
from once.models import IdempotencyKey, IdempotencyState

# Before the move: the API's last migration that had the model, and no ``once``.
BEFORE = [("api", "0003_drop_authtoken_table"), ("once", None)]


@pytest.fixture
def before_the_move():
    """The historical models before the move; the schema is migrated to the
    latest again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        yield executor.loader.project_state([("api", "0003_drop_authtoken_table")]).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)  # migrations change the schema
def test_a_key_stored_by_the_api_app_answers_its_replay_after_the_move(before_the_move):
    # Given a login's key done before the move (a 201 and its body), in the API app's table
    apps = before_the_move
    user = get_user_model().objects.create_user("payer")
    now = timezone.now()
    body = {"invoice": 7, "total": "37.00"}
    old_key = apps.get_model("api", "IdempotencyKey")
    old_key.objects.create(
        user_id=user.pk,
        key="order-42",
        fingerprint="f" * 64,
        state="done",
        holder="h" * 32,
        claimed_at=now,
        pins={"5": "2026-12-10"},
        response_status=201,
        response_body=json.dumps(body),
        created_at=now,
    )
    assert ContentType.objects.filter(app_label="api", model="idempotencykey").exists()

    # When the project migrates to the latest schema
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Then the key is the once app's, as it was, and the same request gets the stored answer
    key = IdempotencyKey.objects.get()
    assert (key.user_id, key.key, key.state, key.pins, key.response_status) == (
        user.pk,
        "order-42",
        IdempotencyState.DONE,
        {"5": "2026-12-10"},
        201,
    )
    replay = idempotency_claim(user=user, key="order-42", fingerprint="f" * 64, now=now + datetime.timedelta(hours=1))
    assert replay == Answer(201, body, replayed=True)
    # ... the unique (user, key) constraint still holds on the kept table
    assert IdempotencyKey._meta.db_table == "api_idempotencykey"
    # ... its content type (and so its permissions) followed it
    assert set(ContentType.objects.filter(model="idempotencykey").values_list("app_label", flat=True)) == {"once"}


@pytest.mark.django_db
def test_beat_purges_the_keys_every_hour():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="once.tasks.idempotency_keys_purge")
    assert (task.interval.every, task.interval.period, task.enabled) == (60, "minutes", True)


@pytest.mark.django_db
def test_the_purge_task_forgets_keys_older_than_24_hours():
    from once.tasks import idempotency_keys_purge

    user = get_user_model().objects.create_user("payer")
    now = timezone.now()
    for key, age in (("old", datetime.timedelta(hours=25)), ("new", datetime.timedelta(hours=1))):
        IdempotencyKey.objects.create(user=user, key=key, fingerprint="f" * 64, holder="h", created_at=now - age)

    assert idempotency_keys_purge.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
