"""A login's API token is revoked when its password changes, whichever way:
the panel's password change or reset, Django admin (a new password, or "no
password"), ``set_password`` + ``save()`` in a shell or a command.

A signal, not a service call, because those paths are Django's own forms and
views; the rule itself is the service's (logins.services.token_revoke).

Not a change: Django re-hashing the same password with a newer hasher when
the login signs in (``check_password``'s setter clears ``_password`` and saves
only the password), nor saves that leave the password out (``last_login``).
"""

from django.contrib.auth import get_user_model

PASSWORD_CHANGED = "_api_password_changed"


def note_password_change(sender, instance, raw=False, update_fields=None, **kwargs):
    """pre_save: remember on the instance whether its password changes."""
    setattr(instance, PASSWORD_CHANGED, False)
    if raw or instance.pk is None:  # a fixture being loaded, or a new login (no token yet)
        return
    if update_fields is not None and "password" not in update_fields:
        return
    if getattr(instance, "_password", None) is not None:  # set_password() since it was loaded
        setattr(instance, PASSWORD_CHANGED, True)
        return
    if update_fields is not None and set(update_fields) == {"password"}:
        return  # check_password's re-hash of the same password on sign-in
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    setattr(instance, PASSWORD_CHANGED, stored is not None and stored != instance.password)


def revoke_tokens_on_password_change(sender, instance, created=False, raw=False, **kwargs):
    """post_save: the password changed, so the API token made with the old one goes."""
    if getattr(instance, PASSWORD_CHANGED, False):
        from logins.services import token_revoke

        setattr(instance, PASSWORD_CHANGED, False)
        token_revoke(user=instance, reason="password changed")


def connect():
    from django.db.models.signals import post_save, pre_save

    user_model = get_user_model()
    pre_save.connect(note_password_change, sender=user_model, dispatch_uid="api.note_password_change")
    post_save.connect(revoke_tokens_on_password_change, sender=user_model, dispatch_uid="api.revoke_tokens")
