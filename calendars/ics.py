"""A feed's content as an iCalendar file (RFC 5545, with RFC 7986's
REFRESH-INTERVAL), built with the icalendar library."""

import datetime

from icalendar import Calendar
from icalendar import Event as VEvent

from calendars.selectors import FeedContent

PRODID = "-//Renewal portal//Renewal calendar//EN"
# Calendar apps poll a subscription on their own schedule; these ask for
# twice a day (RFC 7986, and the X- name Outlook and Apple read).
REFRESH = datetime.timedelta(hours=12)


def feed_ics(content: FeedContent) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", content.name)
    calendar.add("x-wr-caldesc", content.description)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT12H")
    for event in content.events:
        item = VEvent()
        item.add("uid", event.uid)
        item.add("dtstamp", event.stamp.astimezone(datetime.UTC))
        # All-day: DTSTART;VALUE=DATE, and DTEND the next day (exclusive).
        item.add("dtstart", event.day)
        item.add("dtend", event.day + datetime.timedelta(days=1))
        item.add("summary", event.summary)
        item.add("description", event.description)
        # A reminder of a date, not a meeting: it does not make anyone busy.
        item.add("transp", "TRANSPARENT")
        calendar.add_component(item)
    return calendar.to_ical()
