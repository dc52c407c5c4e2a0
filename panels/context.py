"""What every panel page shows around its content: who is signed in, the
brand (the reseller's name: white label), the menu and the unread messages."""

from notifications.selectors import unread_count
from tenants.scope import ActorKind, actor_for_user
from tenants.selectors import brand_of

CUSTOMER_MENU = (
    ("orders", "Orders"),
    ("renewals", "Renewals"),
    ("balance", "Balance"),
    ("invoices", "Invoices"),
    ("messages", "Messages"),
    ("cards", "Cards"),
    ("settings", "Settings"),
)
RESELLER_MENU = (
    ("reseller-customers", "Customers"),
    ("reseller-preview", "Tonight's sweep"),
    ("reseller-failures", "Failures"),
    ("reseller-resellers", "Sub-resellers"),
    ("reseller-retry-policy", "Retry policy"),
    ("reseller-our-orders", "Our orders"),  # the reseller's own account, held above it
    ("reseller-messages", "Messages"),
    ("reseller-webhooks", "Webhooks"),
)

# Pages that belong to a menu entry without being it.
SECTION = {
    "order-detail": "orders",
    "renew": "orders",
    "invoice-detail": "invoices",
    "message-detail": "messages",
    "card-add": "cards",
    "reseller-customer": "reseller-customers",
    "reseller-renew": "reseller-customers",
    "reseller-invoice": "reseller-customers",
    "reseller-our-renew": "reseller-our-orders",
    "reseller-our-invoice": "reseller-our-orders",
    "reseller-message-detail": "reseller-messages",
    "reseller-webhook": "reseller-webhooks",
}


def panel(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    actor = actor_for_user(user)
    if actor.kind == ActorKind.CUSTOMER:
        menu = CUSTOMER_MENU
    elif actor.kind == ActorKind.RESELLER:
        menu = RESELLER_MENU
    else:
        menu = ()
    url_name = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
    return {
        "panel": {
            "actor": actor,
            "brand": brand_of(actor),
            "menu": menu,
            "current": SECTION.get(url_name, url_name),
            "unread": unread_count(actor) if menu else 0,
        }
    }
