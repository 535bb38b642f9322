"""Enumerate every URL pattern of the project and build a concrete URL for each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True, slots=True)
class Route:
    route: str  # the pattern as declared, prefixes joined: "review/doc/<uuid:document_id>/"
    name: str | None
    callback: object


def _pattern_text(pattern) -> str:
    return str(pattern.pattern)


def routes(resolver=None, prefix: str = "") -> list[Route]:
    resolver = resolver or get_resolver()
    out: list[Route] = []
    for entry in resolver.url_patterns:
        text = prefix + _pattern_text(entry)
        if isinstance(entry, URLResolver):
            out.extend(routes(entry, text))
        elif isinstance(entry, URLPattern):
            out.append(Route(text, entry.name, entry.callback))
    return out


_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


def concrete(route: str, values: dict[str, str]) -> str:
    """A URL for ``route`` with its parameters filled from ``values`` (by parameter name)."""
    def fill_route(m):
        return values.get(m.group("name"), "1")

    def fill_regex(m):
        name, body = m.group("name"), m.group("body")
        if name in values:
            return values[name]
        alternatives = body.split("|")
        return alternatives[0] if len(alternatives) > 1 and re.fullmatch(r"[\w|]+", body) else "1"

    url = _REGEX_GROUP.sub(fill_regex, route)
    url = _ROUTE_PARAM.sub(fill_route, url)
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + url
