"""Request URLs and the hosts plain http may reach.

A request's URL is the base URL's text, the path (percent-encoded by
`_request.expand_path`) and the query string (`_request.query_string`), parsed by
`httpx.URL`. The query is encoded here on every path (the client's own pool, a caller's
`http_client=`, with or without cookies or client-level `params`), the same way: a
space is `%20`, never `+` (httpx's own `params=` encoding differs between versions).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

__all__ = [
    "UrlMaker",
    "is_loopback_host",
    "merged_query",
    "never_leaves_machine",
    "url_maker",
]


class UrlMaker:
    """Builds request URLs on one base URL (`scheme://host[:port][/prefix]`).

    Parsing a URL's text costs about 12 µs; an `httpx.URL` is immutable, so the most
    recent ones are kept and handed out again (polling, paging and retries repeat them).
    """

    __slots__ = ("_recent", "base_url")

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._recent: dict[str, httpx.URL] = {}

    def url(self, path: str, query: str = "") -> httpx.URL:
        """The URL of `path` (percent-encoded, from `expand_path`) with `query` (encoded)."""
        text = f"{self.base_url}{path}?{query}" if query else self.base_url + path
        found = self._recent.get(text)
        if found is None:
            if len(self._recent) >= _RECENT:
                self._recent.clear()  # cheaper than keeping an order; refilled as used
            found = self._recent[text] = httpx.URL(text)
        return found


def url_maker(base_url: str) -> UrlMaker:
    """The maker for `base_url`, shared by every transport on it."""
    found = _MAKERS.get(base_url)
    if found is None:
        if len(_MAKERS) >= 32:  # many base URLs (tests, say): start over rather than grow
            _MAKERS.clear()
        found = _MAKERS[base_url] = UrlMaker(base_url)
    return found


_MAKERS: dict[str, UrlMaker] = {}
_RECENT = 256  # URLs kept per base URL


def merged_query(
    client_params: Iterable[tuple[str, str]], params: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """A client's own query parameters, less the names the request sets, then the request's
    (what httpx's merge keeps), for the SDK to encode itself."""
    ours = list(params)
    names = {name for name, _ in ours}
    return [(name, value) for name, value in client_params if name not in names] + ours


def never_leaves_machine(host: str) -> bool:
    """Whether plain http to `host` stays on this machine (loopback, `.localhost`, `.invalid`)."""
    # ".invalid" never resolves (RFC 6761): in-process transports such as the emulator use it.
    return host.endswith((".localhost", ".invalid")) or is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    """Whether `host` is `localhost` or a loopback IP address (v4 or v6)."""
    if host == "localhost":
        return True
    bare = host.strip("[]")
    if not bare[:1].isdigit() and ":" not in bare:
        return False  # a name: not an IP address (and no import of ipaddress)
    import ipaddress

    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False
