"""Private iCal feeds of what renews when: one revocable secret per customer
and per reseller (its subtree)."""
