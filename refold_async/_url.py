"""Request URLs: the base URL parsed once, each request's URL assembled from its parts.

`httpx.URL(text)` parses and validates the whole text of every request's URL, about
12 µs: a third of what the SDK spends on a request. The paths of generated
operations need none of it: their templates are the spec's plain ASCII, and every value
put in them is percent-encoded by `_request.expand_path`; their query strings come from
`urlencode`. So `UrlMaker` parses the base URL once and makes each URL from its parts,
the way httpx stores a parsed one.

That takes httpx's parsed form (`URL._uri_reference`, a `ParseResult`), which is not
public. So a maker first checks, on sample paths and queries, that what it builds equals
what `httpx.URL` parses from the same text (every component, and the text itself); if
anything differs, or this httpx stores URLs otherwise, it parses every URL as before.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["UrlMaker", "url_maker"]

# Paths and queries like the SDK's own: checked against httpx's parser before use.
_SAMPLES = (
    ("/api/v2/public/linked-account", ""),
    ("/api/v2/public/linked-account/acct_1%2F..%20x", "limit=10&page=2"),
    ("/a/%2E/b", "q=a+b%26c&q=%C3%A9&empty="),
)


class UrlMaker:
    """Builds request URLs on one base URL (`scheme://host[:port][/prefix]`)."""

    __slots__ = ("_base", "_make", "_prefix", "base_url")

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._base: Any = None
        self._prefix = ""
        self._make: Any = None
        try:
            base: Any = httpx.URL(base_url)._uri_reference  # pyright: ignore[reportPrivateUsage]
            make: Any = type(base)  # pyright: ignore[reportUnknownVariableType]
            self._base, self._prefix, self._make = base, base.path, make
            if not all(self._agrees(path, query) for path, query in _SAMPLES):
                self._make = None
        except Exception:  # an httpx that stores URLs otherwise: parse them all
            self._make = None

    def url(self, path: str, query: str = "") -> httpx.URL | str:
        """The URL of `path` (percent-encoded, from `expand_path`) with `query` (encoded).

        A ready `httpx.URL` when the base URL allows it, else the text for httpx to parse.
        """
        if self._make is None:
            return f"{self.base_url}{path}?{query}" if query else self.base_url + path
        base = self._base
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = self._make(  # pyright: ignore[reportPrivateUsage]
            base.scheme,
            base.userinfo,
            base.host,
            base.port,
            self._prefix + path,
            query or None,
            None,
        )
        return url

    def _agrees(self, path: str, query: str) -> bool:
        made = self.url(path, query)
        parsed = httpx.URL(f"{self.base_url}{path}?{query}" if query else self.base_url + path)
        return (
            isinstance(made, httpx.URL)
            and made._uri_reference == parsed._uri_reference  # pyright: ignore[reportPrivateUsage]
            and str(made) == str(parsed)
            and made.raw_path == parsed.raw_path
        )


def url_maker(base_url: str) -> UrlMaker:
    """The maker for `base_url`, shared by every transport on it (its checks run once)."""
    found = _MAKERS.get(base_url)
    if found is None:
        if len(_MAKERS) >= 32:  # many base URLs (tests, say): start over rather than grow
            _MAKERS.clear()
        found = _MAKERS[base_url] = UrlMaker(base_url)
    return found


_MAKERS: dict[str, UrlMaker] = {}
