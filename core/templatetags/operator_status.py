"""Filters of the operators' status page."""

from django import template

from core.isolation import first_line as _first_line

register = template.Library()


@register.filter
def first_line(text) -> str:
    """An error's first line (the rest is on its admin page)."""
    return _first_line(str(text or ""))


@register.filter
def seconds(duration_ms) -> str:
    """A run's duration in milliseconds, in seconds: "12.3 s"."""
    if duration_ms is None:
        return "—"
    return f"{duration_ms / 1000:.1f} s"
