"""Pure rules of the catalog."""

DAYS_PER_MONTH_FOR_LEAD = 28


def lead_days_limit(tenures: list[int]) -> int | None:
    """The largest lead-days override a plan may carry: shorter than its shortest
    tenure counted at 28 days a month (SPEC). None when the plan has no tenure."""
    if not tenures:
        return None
    return min(tenures) * DAYS_PER_MONTH_FOR_LEAD - 1


def lead_days_problem(lead_days: int | None, tenures) -> str | None:
    """Why ``lead_days`` cannot be a plan's override given the tenures it sells,
    or None when it can. One rule and one sentence for the importer
    (interchange.document) and the admin's plan form."""
    tenures = list(tenures)
    limit = lead_days_limit(tenures)
    if lead_days is None or limit is None or lead_days <= limit:
        return None
    shortest = min(tenures)
    return (
        f"must be shorter than the shortest tenure ({shortest} month(s) = "
        f"{shortest * DAYS_PER_MONTH_FOR_LEAD} days at 28 days a month), so at most {limit}, not {lead_days}"
    )


def price_in_use_problem(months: int, renewing: int) -> str | None:
    """Why the price of a ``months`` tenure cannot be removed (deleted, or its
    months changed) while ``renewing`` active or suspended orders renew at it,
    or None when it can: their next renewal would have no price."""
    if not renewing:
        return None
    orders = "1 active order renews" if renewing == 1 else f"{renewing} active orders renew"
    return f"{orders} at {months} months: change their tenure first"
