"""Failure notices store their reason's words.

A failure notice (renewal_failed, renewal_last_chance, reseller_failure) used
to keep only its reason's code and the processor's words (``reason``,
``detail``), and notifications looked the sentences up in renewals' rules
when rendering it. Now renewals writes them on the notice (``why``,
``what_to_do``) and notifications imports nothing from renewals. This fills
them in for the notices written before, so that they still say exactly what
they said.

The sentences are copied here as they were (renewals.rules.Reason's labels
and WHAT_TO_DO): a migration is frozen, and imports nothing from renewals.
"""

from django.db import migrations

KINDS = ("renewal_failed", "renewal_last_chance", "reseller_failure")

WHY = {
    "do_not_renew": "You chose not to renew this order.",
    "order_auto_renew_off": "Auto-renew is switched off for this order.",
    "endless_plan": "This plan never expires, so there is nothing to renew.",
    "category_not_supported": ("This kind of service cannot renew automatically (an SSL certificate needs a new CSR)."),
    "not_allowed_by_plan": "The plan does not allow automatic renewal.",
    "price_missing": "The plan no longer sells this order's period, so it cannot renew automatically.",
    "not_allowed_by_reseller": "Your provider does not allow automatic renewal.",
    "account_auto_renew_off": "Auto-renew is switched off for your whole account.",
    "order_suspended": "The order is suspended (or terminated).",
    "order_locked": "The order is locked by the provider.",
    "order_stopped": "The order is stopped.",
    "pending_action": "An action on the order is pending (for example an unpaid checkout).",
    "insufficient_funds": (
        "Your balance and credit limit do not cover the whole renewal, and there is no usable card."
    ),
    "no_usable_card": "The order is paid by card, but the account has no usable card.",
    "card_declined": "The card charge failed or needs your authentication.",
    "payment_unknown": "The card charge's outcome is not known yet; it will be settled.",
    "internal_error": (
        "The portal could not process this renewal tonight; its operators are told and it is retried the next night."
    ),
}

WHAT_TO_DO = {
    "do_not_renew": "Clear 'do not renew' on the order, or renew it by hand.",
    "order_auto_renew_off": "Switch auto-renew on for the order, or renew it by hand.",
    "endless_plan": "Nothing to do.",
    "category_not_supported": "Renew it by hand before it expires.",
    "not_allowed_by_plan": "Renew it by hand before it expires.",
    "price_missing": "Renew it by hand with another period before it expires.",
    "not_allowed_by_reseller": "Renew it by hand, or ask your provider to allow auto-renew.",
    "account_auto_renew_off": "Switch auto-renew on in your account settings, or renew by hand.",
    "order_suspended": "Renew it by hand to restore it (a terminated order cannot come back).",
    "order_locked": "Contact support to have the lock lifted.",
    "order_stopped": "Start the order again, or renew it by hand.",
    "pending_action": "Finish the pending action (for example pay the open checkout).",
    "insufficient_funds": "Top up your balance or save a card before the expiry date.",
    "no_usable_card": "Save a card, or switch the order to pay from your balance.",
    "card_declined": "Renew in the browser to confirm the payment, or use another card.",
    "payment_unknown": "Nothing yet: the charge will be settled; you will not be charged twice.",
    "internal_error": "Nothing: the order is kept running meanwhile, and it is retried the next night.",
}

CHUNK = 500


def reason_words(data: dict) -> dict:
    """The words the notice's renderer derived from its reason and detail."""
    reason = data.get("reason") or ""
    return {"why": data.get("detail") or WHY.get(reason, ""), "what_to_do": WHAT_TO_DO.get(reason, "")}


def fill_reason_words(apps, schema_editor):
    Notice = apps.get_model("notifications", "Notice")
    # Failure notices are few (one per failing account and occasion), and
    # bulk_update in chunks keeps each statement's CASE small.
    pending = []
    for notice in Notice.objects.filter(kind__in=KINDS).only("pk", "data").order_by("pk").iterator(chunk_size=CHUNK):
        if "why" in notice.data and "what_to_do" in notice.data:
            continue
        notice.data = {**notice.data, **reason_words(notice.data)}
        pending.append(notice)
        if len(pending) == CHUNK:
            Notice.objects.bulk_update(pending, ["data"])
            pending = []
    if pending:
        Notice.objects.bulk_update(pending, ["data"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_payment_credited"),
    ]

    # Backwards: nothing to undo. The renderer before this change derived the
    # same words from ``reason`` and ``detail`` and overrode the stored ones.
    operations = [migrations.RunPython(fill_reason_words, migrations.RunPython.noop, elidable=True)]
