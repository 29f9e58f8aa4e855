"""Request assembly: from the caller's arguments to the attempt's `httpx.Request`.

`parts()` checks the arguments and assembles the request's parts (`_request.build_request`,
pure, before anything is sent); a `client.request()` path is also checked to stay on the
base URL's origin. `request()` turns the parts into the `httpx.Request` of one attempt,
less its credential (`_credentials.authorize` adds it): the client's default headers, the
call's, and ours (User-Agent, Accept-Encoding), merged once and cached for the common case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ._errors import InvalidArgumentError
from ._exchange import has_cookies, with_accepted_encodings
from ._operation import Operation
from ._request import RequestParts, build_request, query_string
from ._types import CallOptions
from ._url import merged_query, url_maker
from ._useragent import current_user_agent, join_user_agent

__all__ = ["Assembler"]

# Header names (as the request builder writes them, in lower case) that change ours.
_HEADERS_OF_OURS = frozenset({"user-agent", "accept-encoding"})


class Assembler:
    """Assembles the requests of one transport (its base URL, headers and pool's settings)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        default_headers: Mapping[str, str],
        user_agent: str | None,
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.default_headers = default_headers
        self.user_agent = user_agent  # with the client's own app_info; else the process's
        self._base_headers: tuple[str, dict[str, str]] | None = None
        self._urls = url_maker(base_url)

    def parts(
        self,
        op: Operation[Any],
        *,
        path: Mapping[str, object] | None,
        query: Mapping[str, object] | None,
        headers: Mapping[str, object] | None,
        body: object,
        options: CallOptions | None,
        files: object = None,
        raw_path: str | None = None,
    ) -> RequestParts:
        """The checked parts of the request; raises before anything is sent.

        `raw_path`: the caller's own path (`client.request()`), sent as given, on the base
        URL's origin only.
        """
        parts = build_request(
            op,
            path=path,
            query=query,
            headers=headers,
            body=body,
            options=options or {},
            files=files,
        )
        if raw_path is not None:
            parts = attrs.evolve(parts, path=raw_path, raw_path=True)
            self._check_origin(raw_path)
        return parts

    def request(
        self, parts: RequestParts, files: list[Any], attempt_timeout: float | None
    ) -> httpx.Request:
        """The attempt's `httpx.Request`, less its credential: what `build_request()` makes.

        Built here when the client has no cookies or query parameters of its own to merge
        in (it nearly never has), at a third of the cost: the query is encoded once, not
        parsed back and merged, and the client's headers are merged as a list. A body
        that JSON cannot encode (a set, bytes, ...) is `InvalidArgumentError`.
        """
        http = self.http
        try:
            headers = self.headers(parts.headers)
            if http.params or has_cookies(http):
                request = http.build_request(
                    parts.method,
                    self.base_url + parts.path,
                    headers=headers,
                    json=parts.json if parts.has_json else None,
                    data=dict(parts.form) if files else None,
                    files=files or None,
                    timeout=attempt_timeout,
                )  # its query encoded as on every other path (httpx's `params=` varies by version)
                query = query_string(merged_query(http.params.multi_items(), parts.params))
                request.url = self._urls.url(parts.path, query)
                return request
            if parts.raw_path:  # client.request(): the caller's text, which httpx must check
                url: httpx.URL | str = self.base_url + parts.path
                if parts.params:
                    url = f"{url}?{query_string(parts.params)}"
            else:
                query = query_string(parts.params) if parts.params else ""
                url = self._urls.url(parts.path, query)
            return httpx.Request(
                parts.method,
                url,
                headers=[
                    *(
                        (name, value)
                        for name, value in http.headers.multi_items()
                        if name not in headers
                    ),
                    *headers.items(),
                ],
                json=parts.json if parts.has_json else None,
                data=dict(parts.form) if files else None,
                files=files or None,
                extensions={"timeout": _timeouts(attempt_timeout)},
            )
        except (TypeError, ValueError) as exc:  # a body JSON cannot encode
            raise InvalidArgumentError(f"the request body cannot be sent as JSON: {exc}") from None

    def headers(self, own: Mapping[str, str]) -> dict[str, str]:
        """The request's headers: the client's defaults, then the call's, and ours."""
        ours = self.user_agent or current_user_agent()
        if own.keys().isdisjoint(_HEADERS_OF_OURS):
            # The common case: the defaults with ours are the same for every call.
            base = self._base_headers
            if base is None or base[0] != ours:
                base = self._base_headers = (ours, self._merged_headers({}, ours))
            return {**base[1], **own}
        return self._merged_headers(own, ours)

    def _merged_headers(self, own: Mapping[str, str], ours: str) -> dict[str, str]:
        headers = {**self.default_headers, **own}
        headers["user-agent"] = join_user_agent(headers.get("user-agent"), ours)
        return with_accepted_encodings(headers)

    def _check_origin(self, raw_path: str) -> None:
        """Refuse a path that would take the request (and its credential) off the base URL."""
        base = httpx.URL(self.base_url)
        try:
            url = httpx.URL(self.base_url + raw_path)
        except httpx.InvalidURL:
            raise InvalidArgumentError("the path does not make a valid URL") from None
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise InvalidArgumentError(
                "the path would leave the client's base URL; credentials are only ever sent "
                "to its origin"
            )


def _timeouts(seconds: float | None) -> dict[str, float | None]:
    """httpx's per-phase timeouts for an attempt of `seconds` (the request's extension)."""
    found = _TIMEOUTS.get(seconds)
    if found is None:
        found = httpx.Timeout(seconds).as_dict()
        if len(_TIMEOUTS) < 64:  # the client's timeout, and the last attempts' cut ones
            _TIMEOUTS[seconds] = found
    return dict(found)


_TIMEOUTS: dict[float | None, dict[str, float | None]] = {}
