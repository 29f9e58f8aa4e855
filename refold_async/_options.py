"""Client options, checked when a client is made or derived: types and ranges, by name.

`AsyncRefold(...)`, `Refold(...)` and `with_options(...)` pass their options here before
using any of them, so a wrong one fails at once, naming itself, instead of as an
`AttributeError` at the first call (or never). A value of the wrong type raises
`TypeError`; a value of the right type that cannot work raises `InvalidArgumentError`
(a `ValueError`). The credentials are checked by type only: no frame of this module
keeps them (docs/architecture.md §12).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

from ._errors import InvalidArgumentError
from ._ratelimit import RateLimit
from ._request import (
    CREDENTIAL_HEADERS,
    LINKED_ACCOUNT_HEADER,
    check_header_name,
    check_header_value,
    check_timeout,
)
from ._retry import RetryPolicy
from ._useragent import AppInfo

__all__ = ["check_base_url", "check_client_options", "check_default_headers"]

_SECRETS = ("api_key", "session_token")
_ENVIRONMENTS = ("live", "test")


def check_client_options(options: Mapping[str, object], *, derived: bool = False) -> None:
    """Raise `TypeError` or `InvalidArgumentError` for the first option that cannot work.

    Args:
        options: Option name to value; names this module does not know (`self`) are
            skipped. `locals()` at the top of a constructor is the intended argument.
        derived: The options are changes for `with_options()`, where `None` cannot mean
            "the default" for `base_url`, `retry` and `default_headers`.
    """
    kinds = {name: type(options[name]) for name in _SECRETS if name in options}
    # The base URL too is checked by type only here: a refused one may hold a password.
    url_kind = type(options["base_url"]) if "base_url" in options else str
    public = {name: value for name, value in options.items() if name in _CHECKS}
    del options  # only the credentials' types stay in this frame, never their values
    for name, kind in kinds.items():
        if kind is not str and kind is not type(None):
            raise TypeError(f"{name} must be a str or None, got {kind.__name__}")
    if url_kind is not str and (derived or url_kind is not type(None)):
        raise TypeError(f"base_url must be a str, got {url_kind.__name__}")
    for name, value in public.items():
        _CHECKS[name](name, value, derived)


def check_base_url(base_url: str) -> None:
    """Refuse a base URL with a query, a fragment or a user name and password.

    The SDK appends each operation's path to the base URL, so a query or a fragment
    would swallow it; userinfo would become Basic auth and show in reprs and logs. The
    error never shows the URL, which may hold a password.
    """
    # On a refusal, this frame drops the URL and its parts first: they may hold a
    # password, which a traceback rendered with capture_locals=True would show.
    try:
        parts = urlsplit(base_url)
    except ValueError:
        del base_url
        raise InvalidArgumentError("base_url is not a valid URL (the value is not shown)") from None
    userinfo = parts.username is not None or parts.password is not None or "@" in parts.netloc
    query = bool(parts.query) or "?" in base_url
    fragment = bool(parts.fragment) or "#" in base_url
    del base_url, parts
    if userinfo:
        raise InvalidArgumentError(
            "base_url may not carry a user name or password (user:pass@host): the SDK "
            "authenticates with api_key or session_token. The value is not shown."
        )
    if query:
        raise InvalidArgumentError(
            "base_url may not have a query (?...): each operation's path is appended to it"
        )
    if fragment:
        raise InvalidArgumentError(
            "base_url may not have a fragment (#...): each operation's path is appended to it"
        )


def check_default_headers(headers: Mapping[str, object]) -> dict[str, str]:
    """`default_headers` with lower-case names, checked: text only, no credentials.

    Lower-case names let the headers of a call replace them rather than go beside them.
    """
    checked: dict[str, str] = {}
    for name, value in headers.items():
        key = check_header_name("default_headers", name)
        if key in CREDENTIAL_HEADERS or key == LINKED_ACCOUNT_HEADER:
            option = (
                "linked_account_id" if key == LINKED_ACCOUNT_HEADER else "api_key or session_token"
            )
            raise InvalidArgumentError(
                f"default_headers may not set {name!r}: pass {option} to the client instead"
            )
        if not isinstance(value, str):
            raise TypeError(
                f"default_headers values must be str, got {type(value).__name__} for {name!r}"
            )
        checked[key] = check_header_value(name, value)
    return checked


def _optional(kind: type, what: str) -> Callable[[str, object, bool], None]:
    """A check that the value is a `kind`, or `None` (at construction only)."""

    def check(name: str, value: object, derived: bool) -> None:
        if value is None and not derived:
            return
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be {what}, got {type(value).__name__}")

    return check


def _nullable(kind: type, what: str) -> Callable[[str, object, bool], None]:
    """A check that the value is a `kind` or `None`, wherever it is given."""
    inner = _optional(kind, what)

    def check(name: str, value: object, derived: bool) -> None:
        inner(name, value, False)

    return check


def _timeout(name: str, value: object, derived: bool) -> None:
    # `timeout` and `max_queue_wait`: positive seconds, or None for no bound.
    check_timeout(name, value)


def _rate_limiter(name: str, value: object, derived: bool) -> None:
    if value is None:
        return
    if not all(callable(getattr(value, method, None)) for method in ("acquire", "penalize")):
        raise TypeError(
            f"{name} must be a RateLimiter (with acquire() and penalize()), "
            f"got {type(value).__name__}"
        )


def _http_client(name: str, value: object, derived: bool) -> None:
    if value is None:
        return
    send = getattr(value, "send", None)
    if not inspect.iscoroutinefunction(send) or not callable(getattr(value, "build_request", None)):
        raise TypeError(f"{name} must be an httpx.AsyncClient, got {type(value).__name__}")


def _transport(name: str, value: object, derived: bool) -> None:
    if value is None:
        return
    if not inspect.iscoroutinefunction(getattr(value, "handle_async_request", None)):
        raise TypeError(f"{name} must be an httpx.AsyncBaseTransport, got {type(value).__name__}")


def _default_headers(name: str, value: object, derived: bool) -> None:
    if value is None and not derived:
        return
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a mapping of header names to values, got {type(value).__name__}"
        )
    check_default_headers(cast("Mapping[str, object]", value))


def _tracing(name: str, value: object, derived: bool) -> None:
    if isinstance(value, bool) or callable(getattr(value, "get_tracer", None)):
        return
    raise TypeError(f"{name} must be True, False or a TracerProvider, got {type(value).__name__}")


def _environment(name: str, value: object, derived: bool) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be 'live', 'test' or None, got {type(value).__name__}")
    if value not in _ENVIRONMENTS:
        raise InvalidArgumentError(f"{name} must be 'live', 'test' or None, got {value!r}")


_CHECKS: dict[str, Callable[[str, object, bool], None]] = {
    "linked_account_id": _nullable(str, "a str or None"),
    "timeout": _timeout,
    "retry": _optional(RetryPolicy, "a RetryPolicy"),
    "rate_limit": _nullable(RateLimit, "a RateLimit or None"),
    "rate_limiter": _rate_limiter,
    "http_client": _http_client,
    "transport": _transport,
    "default_headers": _default_headers,
    "expect_environment": _environment,
    "max_queue_wait": _timeout,
    "app_info": _nullable(AppInfo, "an AppInfo or None"),
    "tracing": _tracing,
}
