"""OpenTelemetry tracing: one CLIENT span per call, opt-in (`tracing=True`), extra `refold[otel]`.

Only `opentelemetry-api` is used, and only once a client asks for tracing: this module
imports it then, by name, so `import refold_async` never loads OpenTelemetry and the
SDK works without it. A span covers the whole call (its limiter waits, every attempt and
the backoffs between them) and is named after the operation id. It carries the path
*template* (`url.template`), never the filled path, which may hold ids. The W3C trace
context of the span is put in the request's headers (`traceparent`) through the global
propagator, so the server's spans join the caller's trace.

The span's attributes come from the transport's `CallRecord`, the same record that feeds
the log line and `APIResponse`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ._custom_request import RAW_OPERATION_ID
from ._errors import RefoldUsageError
from ._record import CallRecord
from ._useragent import sdk_version

__all__ = ["CallTracer", "TracerProviderLike"]

R = TypeVar("R")

INSTRUMENTATION_NAME = "refold"


class TracerProviderLike(Protocol):
    """An OpenTelemetry `TracerProvider` (only its `get_tracer` is used)."""

    def get_tracer(self, instrumenting_module_name: str, /, *args: Any, **kwargs: Any) -> Any:
        """A tracer for the named instrumentation."""
        ...


class CallTracer:
    """Starts and ends the span of each call of one client (or of clients sharing it).

    Args:
        provider: The `TracerProvider` to use; `None` takes OpenTelemetry's global one
            (whatever the application set, looked up at each call).
        base_url: The client's API address, for `server.address` and `server.port`.

    Raises:
        RefoldUsageError: `opentelemetry-api` is not installed.
    """

    __slots__ = ("_api", "_attributes", "_propagate", "_tracer", "base_url", "provider")

    provider: TracerProviderLike | None
    base_url: str

    def __init__(self, provider: TracerProviderLike | None, base_url: str) -> None:
        try:
            api: Any = importlib.import_module("opentelemetry.trace")
            propagate: Any = importlib.import_module("opentelemetry.propagate")
        except ImportError:
            raise RefoldUsageError(
                "tracing needs OpenTelemetry's API, which is not installed: "
                "pip install 'refold[otel]'"
            ) from None
        self.provider = provider
        self.base_url = base_url
        self._api = api
        self._propagate = propagate
        self._tracer: Any = api.get_tracer(
            INSTRUMENTATION_NAME, sdk_version(), tracer_provider=provider
        )
        url = urlsplit(base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        self._attributes: dict[str, Any] = {
            "server.address": url.hostname or "",
            "server.port": port,
        }

    def for_base_url(self, base_url: str) -> CallTracer:
        """A tracer of the same provider for another API address."""
        return self if base_url == self.base_url else CallTracer(self.provider, base_url)

    async def traced(
        self, record: CallRecord, headers: dict[str, str], run: Callable[[], Awaitable[R]]
    ) -> R:
        """Await `run()` inside the call's span; `headers` get its trace context first."""
        op = record.op
        api = self._api
        span: Any = self._tracer.start_span(
            op.id,
            kind=api.SpanKind.CLIENT,
            attributes={
                "refold.operation_id": op.id,
                "http.request.method": op.method,
                # `client.request()` has no template: its path is the one the caller wrote.
                "url.template": record.path if op.id == RAW_OPERATION_ID else op.path,
                **self._attributes,
            },
        )
        context: Any = api.set_span_in_context(span)
        try:
            self._propagate.inject(headers, context=context)
            with api.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                result = await run()
        except BaseException as exc:
            self._finish(span, record)
            span.set_attribute("error.type", type(exc).__name__)
            # The class name only: an error's message may quote the response body.
            span.set_status(api.Status(api.StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        self._finish(span, record)
        span.end()
        return result

    @staticmethod
    def _finish(span: Any, record: CallRecord) -> None:
        if record.status_code is not None:
            span.set_attribute("http.response.status_code", record.status_code)
        span.set_attribute("refold.attempts", record.attempts)
        span.set_attribute("refold.rate_limit_wait", record.rate_limit_wait)
        for retry in record.retries or ():  # one event per retry, when it was decided
            span.add_event(
                "refold.retry",
                {
                    "refold.attempt": retry.attempt,
                    "refold.retry.reason": retry.reason,
                    "refold.retry.delay": retry.delay,
                },
                timestamp=retry.at_ns,
            )
