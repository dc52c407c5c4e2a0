"""Helpers shared by tests."""

import threading
from html.parser import HTMLParser

from django.db import connections


def run_concurrently(jobs):
    """Run each callable in its own thread (so its own database connection),
    all released at once; return what each returned or raised."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class _HiddenFields(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.fields.setdefault(attrs["name"], []).append(attrs.get("value") or "")


def hidden_fields(html: str) -> dict[str, list[str]]:
    """The hidden inputs of a page, as a browser posts them: name -> values."""
    parser = _HiddenFields()
    parser.feed(html)
    return parser.fields


def renewal_form(client, choices: dict) -> dict:
    """The customer panel's renewal form as the page draws it for these
    choices (orders, periods, renewal day): its hidden fields (the pins, the
    total shown, the one-time form token) with the choices, ready to post
    with ``"action": "pay"``."""
    from django.urls import reverse

    page = client.get(reverse("renew"), choices)
    assert page.status_code == 200, page.status_code
    return {**hidden_fields(page.content.decode()), **choices}


def top_up_form(client, amount: str) -> dict:
    """The balance page's top-up form, with its one-time token, for ``amount``."""
    from django.urls import reverse

    page = client.get(reverse("balance")).content.decode()
    return {"form_token": hidden_fields(page)["form_token"], "amount": amount}
