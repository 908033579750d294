"""Time-of-day arithmetic for the automatic logout: wall times in, wall times out (pure).

A time of day is read in an IANA zone (DST included: 03:00 Europe/Amsterdam is 01:00 or 02:00
UTC depending on the date). Without a zone the host's local zone is used, as the dialplan's
conditions do. A time that does not exist on a day (skipped by a DST change) maps to the
instant zoneinfo gives it (fold=0: one hour later in wall-clock terms), so the logout still
happens that day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo


def parse_time_of_day(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _zone(name: str | None) -> tzinfo | None:
    # None: naive local datetimes, whose timestamp() follows the host zone's DST rules
    return ZoneInfo(name) if name is not None else None


def _at(day: datetime, at: time, zone: tzinfo | None) -> float:
    return datetime.combine(day.date(), at, tzinfo=zone).timestamp()


def next_occurrence(wall: float, at: time, zone_name: str | None) -> float:
    """The first wall instant strictly after `wall` at which the clock in the zone shows `at`."""
    zone = _zone(zone_name)
    local = datetime.fromtimestamp(wall, zone)
    for days in range(3):  # today, tomorrow; a third day only around DST oddities
        candidate = _at(local + timedelta(days=days), at, zone)
        if candidate > wall:
            return candidate
    raise AssertionError("unreachable: a time of day recurs within three days")


def last_occurrence(wall: float, at: time, zone_name: str | None) -> float:
    """The last wall instant at or before `wall` at which the clock in the zone showed `at`."""
    zone = _zone(zone_name)
    local = datetime.fromtimestamp(wall, zone)
    for days in range(3):
        candidate = _at(local - timedelta(days=days), at, zone)
        if candidate <= wall:
            return candidate
    raise AssertionError("unreachable: a time of day recurs within three days")
