"""Request URLs made from parts (`_url.UrlMaker`) equal what httpx parses from text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refold_async import _url
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
    """Every base the client accepts: a made URL is the parsed one, or the text is parsed."""
    maker = UrlMaker(base)
    assert isinstance(maker.url("/x"), httpx.URL)  # made, not left to httpx to parse
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


def test_a_base_that_does_not_agree_is_parsed_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a sample differs from httpx's parse (a dot segment here), the maker parses."""
    monkeypatch.setattr(_url, "_SAMPLES", (*_url._SAMPLES, ("/a/./b", "")))
    maker = UrlMaker("https://app.refold.ai")
    made = maker.url("/api/v2/public/webhook", "limit=1")
    assert made == "https://app.refold.ai/api/v2/public/webhook?limit=1"


def test_an_httpx_without_the_parsed_form_is_parsed_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should httpx store URLs otherwise, URLs go to it as text."""

    class Opaque(httpx.URL):
        def __getattribute__(self, name: str) -> Any:
            if name == "_uri_reference":
                raise AttributeError(name)
            return super().__getattribute__(name)

    monkeypatch.setattr(_url.httpx, "URL", Opaque)
    maker = UrlMaker("https://app.refold.ai")
    assert maker.url("/x", "") == "https://app.refold.ai/x"
