"""Pure rules of the catalog."""

DAYS_PER_MONTH_FOR_LEAD = 28


def lead_days_limit(tenures: list[int]) -> int | None:
    """The largest lead-days override a plan may carry: shorter than its shortest
    tenure counted at 28 days a month (SPEC). None when the plan has no tenure."""
    if not tenures:
        return None
    return min(tenures) * DAYS_PER_MONTH_FOR_LEAD - 1
