"""The calendar card in a real headless Chromium against a live server:
"Copy" copies the link (its script runs under the Content-Security-Policy),
"Reset the link" shows a new one, and the calendar app's fetch of it works."""

import urllib.request

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from calendars.models import Feed

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_copies_the_link_and_resets_it(live_server, browser, tenants, fresh_cache):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: _policy(message.text, violations))
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    # the settings page shows the link; Copy puts it on the clipboard
    page.goto(f"{live_server.url}{reverse('settings')}")
    field = page.locator("#calendar-url")
    old = field.input_value()
    assert old.endswith(".ics")
    page.click("[data-copy=calendar-url]")
    expect(page.locator("[data-copy=calendar-url]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == old

    # a calendar app fetches it: a calendar
    path = old.split("/calendar/", 1)[1]
    with urllib.request.urlopen(f"{live_server.url}/calendar/{path}") as answer:
        assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert answer.read().startswith(b"BEGIN:VCALENDAR")

    # Reset the link: back on the settings page with a new one
    page.click("text=Reset the link")
    page.wait_for_url(f"**{reverse('settings')}")
    expect(page.locator(".messages")).to_contain_text("The calendar link was reset")
    new = page.locator("#calendar-url").input_value()
    assert new != old
    assert new.endswith(Feed.objects.get(customer=tenants.customers["c1"]).secret + ".ics")
    assert violations == []


def _policy(text: str, violations: list[str]) -> None:
    if "Content Security Policy" in text:
        violations.append(text)
