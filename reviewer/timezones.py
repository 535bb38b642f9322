"""One rule for times on the staff pages: the user's time zone, shown beside the times. The zone is
the one set in the user's profile, else the browser's (sent in a cookie by the pages' script),
else UTC."""

from __future__ import annotations

import zoneinfo
from functools import cache
from urllib.parse import unquote

from django.http import HttpRequest

from .models import ReviewerProfile

COOKIE = "docproc_tz"


@cache
def known_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def is_zone(name: str) -> bool:
    return name in known_zones()


def browser_time_zone(request: HttpRequest) -> str:
    """The zone the browser reported, when it is a known one."""
    name = unquote(request.COOKIES.get(COOKIE, ""))  # the script encodes the "/" of "Europe/Paris"
    return name if is_zone(name) else ""


def request_time_zone(request: HttpRequest) -> tuple[str, str]:
    """(zone, where it came from: "profile", "browser" or "default")."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        chosen = ReviewerProfile.objects.filter(user=user).values_list("time_zone", flat=True).first()
        if chosen and is_zone(chosen):
            return chosen, "profile"
    browser = browser_time_zone(request)
    if browser:
        return browser, "browser"
    return "UTC", "default"


def profile_time_zone_set(*, user, time_zone: str) -> ReviewerProfile:
    """Save the user's time zone; "" goes back to the browser's. An unknown name is refused."""
    from .services import ReviewError

    if time_zone and not is_zone(time_zone):
        raise ReviewError("invalid_time_zone", f"{time_zone!r} is not a time zone name such as Europe/Paris.", 400)
    profile, _ = ReviewerProfile.objects.update_or_create(user=user, defaults={"time_zone": time_zone})
    return profile
