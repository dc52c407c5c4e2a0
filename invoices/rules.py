import datetime


def invoice_number(prefix: str, business_date: datetime.date, sequence: int) -> str:
    """ACME-2026-000123: the seller's prefix, the year issued, the seller's
    gapless sequence."""
    return f"{prefix}-{business_date.year}-{sequence:06d}"
