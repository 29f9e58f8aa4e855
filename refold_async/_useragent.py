"""The `User-Agent` the SDK sends, and the application info that extends it.

Every request carries `refold-python/<version> (Python <x.y.z>; httpx <version>)`, so the
API's operators can tell the SDK's traffic and its version apart. An application may add
its own product token after ours, for all clients (`set_app_info()`) or for one client
(`AsyncRefold(app_info=AppInfo(...))`). Versions come from the installed packages'
metadata, read once.

A `User-Agent` the caller sets (in `default_headers` or `extra_headers`) is kept, first,
and ours follows it: the caller's product comes first, and the SDK stays identifiable.
"""

from __future__ import annotations

import functools
import platform
import re
import sys
from importlib import metadata

import attrs

from ._errors import InvalidArgumentError

__all__ = [
    "AppInfo",
    "current_user_agent",
    "join_user_agent",
    "sdk_version",
    "set_app_info",
    "user_agent",
]

# Printable ASCII only: a CR or LF would let a value forge a header.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _check(what: str, value: object, pattern: re.Pattern[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"AppInfo {what} must be a str, got {type(value).__name__}")
    if not value or not pattern.fullmatch(value):
        raise InvalidArgumentError(
            f"AppInfo {what} {value!r} may hold only printable ASCII"
            + (" without spaces or separators" if pattern is _NAME else "")
        )


@attrs.frozen
class AppInfo:
    """The application that uses the SDK, added to the `User-Agent` of its requests.

    Attributes:
        name: The application's name, one token (letters, digits, `-._~` and the like).
        version: Its version, one token, if you want it sent.
        url: Where to learn about it (or whom to contact), if you want it sent.

    Raises:
        InvalidArgumentError: A value with spaces (name, version), control characters
            or non-ASCII text.

    Example:
        ```python
        client = AsyncRefold(app_info=AppInfo(name="acme-sync", version="2.3.0"))
        # User-Agent: refold-python/0.1.0 (Python 3.12.4; httpx 0.28.1) acme-sync/2.3.0
        ```
    """

    name: str
    version: str | None = None
    url: str | None = None

    def __attrs_post_init__(self) -> None:
        _check("name", self.name, _NAME)
        _check("version", self.version, _NAME)
        _check("url", self.url, _PRINTABLE)

    def token(self) -> str:
        """The product token this info adds, e.g. `acme-sync/2.3.0 (+https://acme.test)`."""
        text = self.name if self.version is None else f"{self.name}/{self.version}"
        return text if self.url is None else f"{text} (+{self.url})"


def user_agent(app_info: AppInfo | None = None) -> str:
    """The SDK's `User-Agent`, followed by `app_info`'s product token if given."""
    base = _base()
    return base if app_info is None else f"{base} {app_info.token()}"


def join_user_agent(theirs: str | None, ours: str) -> str:
    """A caller's own `User-Agent` first, then ours (unless theirs holds ours already)."""
    if not theirs:
        return ours
    return theirs if ours in theirs else f"{theirs} {ours}"


def set_app_info(name: str, version: str | None = None, url: str | None = None) -> None:
    """Add your application to the `User-Agent` of every client's requests.

    Clients made with their own `app_info=` keep theirs. Takes effect at once, for
    clients already made too.

    Raises:
        InvalidArgumentError: A value `AppInfo` refuses.

    Example:
        ```python
        import refold_async

        refold_async.set_app_info("acme-sync", version="2.3.0", url="https://acme.test")
        ```
    """
    global _current
    _current = user_agent(AppInfo(name, version, url))


def sdk_version() -> str:
    """The SDK's version (the package's `__version__`, which its metadata carries too)."""
    return _versions()[0]


def current_user_agent() -> str:
    """The `User-Agent` of clients without `app_info` of their own (see `set_app_info()`)."""
    return _current or _base()


def _base() -> str:
    sdk, httpx_version = _versions()
    return f"refold-python/{sdk} (Python {platform.python_version()}; httpx {httpx_version})"


@functools.cache
def _versions() -> tuple[str, str]:
    """The SDK's version and httpx's, read once, when the first request is made.

    From the modules' `__version__` (both are imported by then), not from package
    metadata, whose lookup walks every installed distribution (tens of milliseconds in
    a large environment) and would be paid by `import refold_async` itself.
    """
    return _module_version("refold_async"), _module_version("httpx")


def _module_version(name: str) -> str:
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    return version if isinstance(version, str) else _version(name.replace("refold_async", "refold"))


_current: str | None = None  # set_app_info()'s; None: the SDK's own
