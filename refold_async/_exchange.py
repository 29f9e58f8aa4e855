"""One HTTP attempt, bounded in time and size (docs/architecture.md §5, §12).

`exchange()` sends one request and reads its whole body, and owns the limits that hold
for a single attempt, whoever built the `httpx.AsyncClient`:

- time: the attempt as a whole (connect, send, redirects, the whole body) ends within
  its `timeout`, on top of httpx's per-phase timeouts, so a server trickling one byte a
  second cannot hold a call;
- size: the body is counted as it is decoded, in steps of at most `_STEP` bytes, and
  dropped past the limit, so a decompression bomb costs no more memory than the limit;
- redirects: followed only when the client asks for them, only within the request's
  origin (its credential header is never sent elsewhere), never to plain http off
  loopback, and at most `max_redirects` hops.

It also follows the attempt through the transport's `trace` events (httpcore's names,
which the SDK's own transport emits too), to know whether the request's headers left
this machine (`request_sent()`), and hands every event to the transport's listeners.
The transport keeps the retry loop; this module knows nothing of operations,
credentials or retries.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import httpx

from . import _decoding as decoding
from ._errors import APIDecodeError, APIRedirectError, APIResponseTooLargeError
from ._pool import PerLoopPool
from ._url import never_leaves_machine

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AttemptTimeout",
    "TraceListener",
    "accepted_encodings",
    "exchange",
    "has_cookies",
    "is_httpx_own",
    "request_sent",
    "with_accepted_encodings",
]

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_STEP = decoding.STEP  # the most decoded bytes one step may produce
_CLOSE_GRACE = 1.0  # seconds a cancelled attempt may spend closing its connection

TraceListener = Callable[[str, Mapping[str, Any]], Awaitable[None]]
"""Called with each httpcore trace event of an attempt (`"http11.send_request_headers.
started"`, ...) and its info; time spent in listeners is not counted against the attempt's
timeout."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# What the trace told of failed attempts' requests, keyed by httpx's error (see below).
_SENT: weakref.WeakKeyDictionary[BaseException, bool] = weakref.WeakKeyDictionary()


class AttemptTimeout(httpx.TimeoutException):
    """The attempt as a whole outlived its timeout (each of its reads may have been quick)."""


def request_sent(error: BaseException) -> bool | None:
    """Whether the request of the attempt that failed with `error` left this machine.

    `False` when it surely did not (no connection, or its headers never got written),
    `True` when its headers were written, `None` when that is not known (a transport
    that emits no trace events, such as a mock).
    """
    if isinstance(error, _NOT_SENT):
        return False
    return _SENT.get(error)


def with_accepted_encodings(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` asking for the encodings decoded here, unless they name their own."""
    if any(name.lower() == "accept-encoding" for name in headers):
        return dict(headers)
    return {"accept-encoding": accepted_encodings(), **headers}


@functools.cache
def accepted_encodings() -> str:
    """The encodings this installation decodes in bounded steps (br and zstd when their
    optional modules are installed); a response in any other is refused, typed."""
    return ", ".join(decoding.accepted())


async def exchange(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    within: float | None,
    max_bytes: int,
    path: str,
    attempt: int = 1,
    listeners: Sequence[TraceListener] = (),
) -> httpx.Response | httpx.HTTPError:
    """Send `request` once and return its response, body read, or httpx's error.

    The returned response is detached from the connection: its body is in memory and
    decoded (it has no `content-encoding` header any more).

    Args:
        http: The client to send through (its pool, transport and redirect setting).
        request: The request, credential header included.
        within: Seconds the whole attempt may take (`None`: no bound beyond httpx's).
        max_bytes: The most decoded body bytes accepted.
        path: The request's path as the errors name it (no query string).
        attempt: The attempt's number, for the errors.
        listeners: Called with each trace event of the attempt, in order.

    Raises:
        APIResponseTooLargeError: The body passed `max_bytes`.
        APIRedirectError: A redirect that may not be followed.
    """
    watch = _Watch(listeners)
    request.extensions = {**request.extensions, "trace": watch}
    deadline = math.inf if within is None else anyio.current_time() + within
    with anyio.CancelScope(deadline=deadline) as scope:
        watch.scope = scope
        try:
            return await _follow(http, request, watch, _Limits(max_bytes, path, attempt))
        except httpx.HTTPError as exc:
            return watch.record(exc)
    error = AttemptTimeout(
        f"no complete response within the attempt's timeout of {within} s", request=request
    )
    return watch.record(error)


class _Limits:
    """What the errors of one attempt name, and its size limit."""

    __slots__ = ("attempt", "max_bytes", "path")

    def __init__(self, max_bytes: int, path: str, attempt: int) -> None:
        self.max_bytes = max_bytes
        self.path = path
        self.attempt = attempt


class _Watch:
    """An attempt's trace callback: notes how far the request got, forwards every event."""

    def __init__(self, listeners: Sequence[TraceListener]) -> None:
        self.listeners = tuple(listeners)
        self.scope: anyio.CancelScope | None = None
        self.reset()

    def reset(self) -> None:
        """Forget what the previous hop did (a redirect starts a new request)."""
        self.connecting = False
        self.headers_started = False
        self.headers_sent = False

    async def __call__(self, name: str, info: Mapping[str, Any]) -> None:
        _, _, event = name.partition(".")
        if name.startswith("connection."):
            self.connecting = True
        elif event == "send_request_headers.started":
            self.headers_started = True
        elif event == "send_request_headers.complete":
            self.headers_sent = True
        if not self.listeners:
            return
        # A listener's wait (pacing, say) is not the server's: the attempt's clock stops.
        scope = self.scope
        saved = math.inf if scope is None else scope.deadline
        began = anyio.current_time()
        if scope is not None:
            scope.deadline = math.inf
        try:
            for listener in self.listeners:
                await listener(name, info)
        finally:
            if scope is not None:
                scope.deadline = saved + (anyio.current_time() - began)

    @property
    def sent(self) -> bool | None:
        if self.headers_sent:
            return True
        if self.headers_started or self.connecting:
            return False  # httpcore was seen at work, and the headers did not all leave
        return None

    def record(self, error: httpx.HTTPError) -> httpx.HTTPError:
        sent = self.sent
        if sent is not None:
            _SENT[error] = sent
        return error


async def _follow(
    http: httpx.AsyncClient, request: httpx.Request, watch: _Watch, limits: _Limits
) -> httpx.Response:
    """Send, following redirects the client asks for, and return the last response read."""
    hops = 0
    while True:
        response = await _hop(http, request)
        try:
            if not (http.follow_redirects and response.is_redirect):
                return await _read(response, limits)
            hops += 1
            target = _redirect_target(request, response, hops, http.max_redirects, limits)
        finally:
            await _close(response)
        request = _redirected(request, response, target)
        watch.reset()


async def _hop(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """One request and its response, headers read, body not yet.

    The pool the client makes for itself (`PerLoopPool`) is handed the request through
    its transport's public `handle_async_request()`: httpx's `send()` would add nothing
    to it (no auth, hooks or cookies) but its cost (its cookie jar, auth flow and
    redirect loop: about 40 µs a request). When `httpx.AsyncClient.send` is patched by
    instrumentation (Sentry and ddtrace wrap it), it goes through `send()`, so the
    instrumentation sees it. A caller's `http_client=` always goes through its public
    `send()`, with everything it adds.
    """
    if type(http) is not PerLoopPool or not _own_send():
        return await http.send(request, stream=True, follow_redirects=False)
    if http.is_closed:  # httpx's own words: the transport maps them to RefoldUsageError
        raise RuntimeError("Cannot send a request, as the client has been closed.")
    try:
        response = await http.wire.handle_async_request(request)
    except httpx.RequestError as exc:
        exc.request = request  # as send() has it
        raise
    response.request = request
    if _httpx_log.isEnabledFor(logging.INFO):  # the line send() logs
        _httpx_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
    return response


_httpx_log = logging.getLogger("httpx")
_SEND = httpx.AsyncClient.send


def _own_send() -> bool:
    """Whether `httpx.AsyncClient.send` is httpx's own, as it was when this module loaded."""
    return httpx.AsyncClient.send is _SEND and not _PATCHED_AT_IMPORT


def is_httpx_own(method: object) -> bool:
    """Whether `method` is httpx's own, not a wrapper or a replacement patched in."""
    module = getattr(method, "__module__", None) or ""
    return not hasattr(method, "__wrapped__") and module.partition(".")[0] == "httpx"


# Patched before this module was imported.
_PATCHED_AT_IMPORT = not is_httpx_own(_SEND)


def has_cookies(http: httpx.AsyncClient) -> bool:
    """Whether the client's jar holds any cookie (the first one found is enough)."""
    return next(iter(http.cookies.jar), None) is not None


async def _close(response: httpx.Response) -> None:
    # Shielded: a cancelled attempt still closes its connection (an unread body means
    # httpcore drops it rather than returning it to the pool), but briefly.
    if response.is_closed:
        return  # read to the end, which closed it
    if type(response.stream) is httpx.ByteStream:
        await response.aclose()  # a body in memory (a mock's): nothing to wait for
        return
    with anyio.move_on_after(_CLOSE_GRACE, shield=True):
        await response.aclose()


async def _read(response: httpx.Response, limits: _Limits) -> httpx.Response:
    """The response with its body read and decoded, or `APIResponseTooLargeError`."""
    declared_encoding = response.headers.get("content-encoding")
    declared = response.headers.get("content-length", "")
    try:
        decoder = None if declared_encoding is None else decoding.chain(declared_encoding)
    except decoding.UnsupportedEncoding as exc:
        if _has_body(response):
            raise _undecodable(response, limits, f"an encoding not decoded here ({exc})") from None
        decoder = None  # a HEAD's or a 304's: there is no body to decode
    if (
        decoder is None
        and declared.isdigit()
        and int(declared) > limits.max_bytes
        and _has_body(response)
    ):
        raise _too_large(response, limits, f"declares {declared} bytes")
    if response.is_stream_consumed:  # read already (a mock transport's): in memory, decoded
        body = await response.aread()
        if len(body) > limits.max_bytes:
            raise _too_large(response, limits, "goes on")
    elif declared_encoding is None:
        # Nothing to decode: httpx's own aread() reads it (one pass, the cheapest public
        # way to a response with its content), through a stream that counts the bytes.
        response.stream = _Bounded(response, limits)
        body = await response.aread()
    else:
        chunks: list[bytes] = []
        size = 0
        chunks_in = response.aiter_raw() if decoder is None else _decoded(response, decoder)
        async for chunk in chunks_in:
            size += len(chunk)
            if size > limits.max_bytes:
                raise _too_large(response, limits, "goes on")
            chunks.append(chunk)
        body = b"".join(chunks)
    if declared_encoding is None and declared == str(len(body)):
        # The headers describe the body as read (no encoding, its length; a length with
        # transfer-encoding is refused by h11): keep the response. A new Response costs
        # more than the rest of a call.
        return response
    return httpx.Response(
        response.status_code,
        headers=[
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ],
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


class _Bounded(httpx.AsyncByteStream):
    """A response's raw stream, refused (`APIResponseTooLargeError`) past the size limit."""

    def __init__(self, response: httpx.Response, limits: _Limits) -> None:
        self.inner = response.stream
        self.response = response
        self.limits = limits

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        most = self.limits.max_bytes
        inner: Any = self.inner
        async for chunk in inner:
            size += len(chunk)
            if size > most:
                raise _too_large(self.response, self.limits, "goes on")
            yield chunk

    async def aclose(self) -> None:
        inner: Any = self.inner
        await inner.aclose()


def _has_body(response: httpx.Response) -> bool:
    # A HEAD's or a 304's Content-Length describes a body that is not sent (RFC 9110 §8.6).
    return response.request.method != "HEAD" and response.status_code not in (204, 304)


# The body is stored decoded: headers that described it on the wire no longer fit.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_TURN = 0.005  # seconds of decoding between two turns given to the event loop


async def _decoded(response: httpx.Response, decoder: decoding.Decoder) -> AsyncIterator[bytes]:
    """The raw body through `decoder`, a step at a time, the loop getting a turn every
    `_TURN` seconds of decoding: a bomb never stalls the other tasks."""
    clock = time.perf_counter
    turn_at = clock() + _TURN
    async for raw in response.aiter_raw():
        try:
            for chunk in decoder.feed(raw):
                yield chunk
                if clock() >= turn_at:
                    await anyio.lowlevel.checkpoint()
                    turn_at = clock() + _TURN
        except decoding.DecodeFailed as exc:
            raise httpx.DecodingError(str(exc), request=response.request) from None


def _too_large(response: httpx.Response, limits: _Limits, how: str) -> APIResponseTooLargeError:
    method = response.request.method
    return APIResponseTooLargeError(
        f"{method} {limits.path}: the {response.status_code} response {how} past "
        f"max_response_bytes ({limits.max_bytes} bytes); raise the limit for the client "
        "or the call if such a body is expected",
        method=method,
        path=limits.path,
        status=response.status_code,
        limit=limits.max_bytes,
        attempts=limits.attempt,
    )


def _undecodable(response: httpx.Response, limits: _Limits, why: str) -> APIDecodeError:
    method = response.request.method
    return APIDecodeError(
        f"{method} {limits.path}: the {response.status_code} response's body cannot be "
        f"decoded: {why}",
        problems=[why],
        status=response.status_code,
        method=method,
        path=limits.path,
    )


def _redirect_target(
    request: httpx.Request, response: httpx.Response, hops: int, most: int, limits: _Limits
) -> httpx.URL:
    """Where a redirect leads, if the SDK may follow it; else `APIRedirectError`."""
    try:
        target = request.url.join(response.headers["location"])
    except httpx.InvalidURL:
        raise _refused(response, limits, "", "its Location is not a URL") from None
    origin = _origin(target)
    if target.scheme not in ("http", "https") or not target.host:
        raise _refused(response, limits, origin, "only http(s) URLs are followed")
    if target.scheme == "http" and not never_leaves_machine(target.host):
        raise _refused(response, limits, origin, "plain http off loopback would expose the request")
    if origin != _origin(request.url):
        raise _refused(
            response, limits, origin, "it leads to another origin, which must not get credentials"
        )
    if hops > most:
        raise _refused(response, limits, origin, f"more than {most} redirects (max_redirects)")
    return target


def _origin(url: httpx.URL) -> str:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"


def _refused(response: httpx.Response, limits: _Limits, origin: str, why: str) -> APIRedirectError:
    method = response.request.method
    return APIRedirectError(
        f"{method} {limits.path}: not following the {response.status_code} redirect"
        f"{' to ' + origin if origin else ''}: {why}",
        method=method,
        path=limits.path,
        status=response.status_code,
        location=origin,
        attempts=limits.attempt,
    )


def _redirected(
    request: httpx.Request, response: httpx.Response, target: httpx.URL
) -> httpx.Request:
    """The request for a same-origin redirect, as httpx builds one (RFC 9110 §15.4)."""
    method = request.method
    if (response.status_code in (302, 303) and method != "HEAD") or (
        response.status_code == 301 and method == "POST"
    ):
        method = "GET"
    keeps_body = method == request.method
    return httpx.Request(
        method,
        target,
        headers=[
            (name, value)
            for name, value in request.headers.multi_items()
            if keeps_body or name.lower() not in _BODY_HEADERS | {"content-type"}
        ],
        stream=request.stream if keeps_body else None,
        extensions=request.extensions,
    )
