"""Request URLs (`_url.UrlMaker`) equal what httpx parses from the same text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refold_async._request import expand_path, query_string
from refold_async._url import UrlMaker, url_maker

BASES = [
    "https://app.refold.ai",
    "https://app.refold.ai/",
    "http://127.0.0.1:8080",
    "https://API.Example.COM:443/prefix",
    "https://[::1]:9000/v1 beta",
    "https://xn--bcher-kva.example/r",
    "https://bücher.example",
]
_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16)
_params = st.lists(
    st.tuples(st.sampled_from(["limit", "page", "a b", "ü"]), st.text(max_size=10)), max_size=5
)


def _parsed(base: str, path: str, query: str) -> httpx.URL:
    return httpx.URL(f"{base}{path}?{query}" if query else base + path)


def _same(made: httpx.URL | str, parsed: httpx.URL) -> None:
    url = httpx.URL(made) if isinstance(made, str) else made
    assert str(url) == str(parsed)
    assert url.raw_path == parsed.raw_path
    assert (url.scheme, url.host, url.port, url.path, url.query) == (
        parsed.scheme,
        parsed.host,
        parsed.port,
        parsed.path,
        parsed.query,
    )
    assert url == parsed


@pytest.mark.parametrize("base", BASES)
def test_made_urls_are_parsed_urls_on_many_bases(base: str) -> None:
    """Every base the client accepts: a made URL is the parsed one."""
    maker = UrlMaker(base)
    for path, query in [("/api/v2/public/webhook", ""), ("/x/a%2Fb", "limit=5&page=2")]:
        _same(maker.url(path, query), _parsed(base, path, query))


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(BASES),
    first=_values,
    second=_values,
    params=_params,
)
def test_any_path_values_and_query(base: str, first: str, second: str, params: Any) -> None:
    """Path values through `expand_path`, queries through `query_string`: as httpx parses."""
    path = expand_path("/api/v2/public/{a}/config/{b}", {"a": first, "b": second})
    query = query_string(params) if params else ""
    _same(url_maker(base).url(path, query), _parsed(base, path, query))


def test_a_repeated_url_is_parsed_once_and_the_kept_ones_stay_bounded() -> None:
    """The same text gives the same (immutable) `httpx.URL`; at most `_RECENT` are kept."""
    from refold_async import _url

    maker = UrlMaker("https://app.refold.ai")
    first = maker.url("/x", "a=1")
    assert maker.url("/x", "a=1") is first
    for i in range(_url._RECENT + 5):
        maker.url(f"/n/{i}")
    assert len(maker._recent) <= _url._RECENT
    assert maker.url("/x", "a=1") == first
