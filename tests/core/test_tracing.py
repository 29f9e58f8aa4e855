"""OpenTelemetry: one CLIENT span per call, trace context in the headers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest
import respx

from refold_async import AsyncRefold, NotFoundError, RefoldUsageError, RetryPolicy
from refold_sync import Refold
from tests.helpers import API_KEY, RecordingSleep, mock_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="needs refold[otel] + sdk")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
otel_trace = pytest.importorskip("opentelemetry.trace")

WEBHOOK = {"_id": "wh_1", "webhook_url": "https://hooks.test/in"}


@pytest.fixture
def exporter() -> Any:
    return in_memory.InMemorySpanExporter()


@pytest.fixture
def provider(exporter: Any) -> Any:
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    return provider


class SlowLimiter:
    """Every slot `wait` seconds away on the test's fake clock."""

    def __init__(self, sleep: RecordingSleep, wait: float) -> None:
        self.sleep = sleep
        self.wait = wait
        self.rate = None

    async def acquire(self, key: str, **_: Any) -> None:
        self.sleep.now += self.wait

    async def penalize(self, key: str, retry_after: float) -> None:
        return None


async def test_one_client_span_per_call_with_the_template_not_the_path(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json=WEBHOOK)])
    route = router.get(url__regex=r".*/webhook/wh_secret_id$").mock(
        side_effect=lambda request: next(answers)
    )
    sleep = RecordingSleep()
    client = mock_client(
        router, sleep=sleep, tracing=provider, rate_limiter=SlowLimiter(sleep, 0.25)
    )
    webhook = await client.webhooks.retrieve("wh_secret_id")
    assert webhook.id == "wh_1"
    [span] = exporter.get_finished_spans()  # one span for the call, not one per attempt
    assert span.name == "getWebhookById"
    assert span.kind == otel_trace.SpanKind.CLIENT
    attributes = dict(span.attributes)
    assert attributes == {
        "refold.operation_id": "getWebhookById",
        "http.request.method": "GET",
        "url.template": "/api/v2/public/webhook/{id}",
        "server.address": "api.refold.invalid",
        "server.port": 443,
        "http.response.status_code": 200,
        "refold.attempts": 2,
        "refold.rate_limit_wait": pytest.approx(0.5),
    }
    assert "wh_secret_id" not in repr(attributes)
    [retry] = span.events  # the 503, retried once
    assert retry.name == "refold.retry"
    assert dict(retry.attributes) == {
        "refold.attempt": 1,
        "refold.retry.reason": "HTTP 503",
        "refold.retry.delay": sleep.calls[0],
    }
    assert span.start_time <= retry.timestamp <= span.end_time
    assert span.status.status_code == otel_trace.StatusCode.UNSET
    assert route.call_count == 2
    # W3C trace context, the call's span, on every attempt
    parents = {call.request.headers["traceparent"] for call in route.calls}
    context = span.get_span_context()
    flags = f"{context.trace_flags:02x}"
    assert parents == {f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"}


async def test_a_failed_call_marks_the_span_as_an_error(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    router.get(url__regex=r".*/webhook/nope$").mock(
        return_value=httpx.Response(404, json={"message": f"no such webhook for {API_KEY}"})
    )
    client = mock_client(router, tracing=provider, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NotFoundError):
        await client.webhooks.retrieve("nope")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code == otel_trace.StatusCode.ERROR
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["refold.attempts"] == 1
    shown = repr(dict(span.attributes)) + str(span.status.description) + repr(span.events)
    assert API_KEY not in shown


async def test_the_span_is_a_child_of_the_callers_span(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    router.get(url__regex=r".*/webhook$").mock(return_value=httpx.Response(200, json=[]))
    client = mock_client(router, tracing=provider)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as parent:
        await client.webhooks.list()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["listWebhooks"].parent.span_id == parent.get_span_context().span_id
    assert spans["listWebhooks"].context.trace_id == parent.get_span_context().trace_id


async def test_tracing_is_off_by_default_and_sends_no_traceparent(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    route = router.get(url__regex=r".*/webhook$").mock(return_value=httpx.Response(200, json=[]))
    client = mock_client(router)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request"):
        await client.webhooks.list()
    assert "traceparent" not in route.calls.last.request.headers
    assert [span.name for span in exporter.get_finished_spans()] == ["handle-request"]
    assert client._transport.config.tracer is None


async def test_with_options_keeps_or_changes_tracing(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    router.get(url__regex=r".*/webhook$").mock(return_value=httpx.Response(200, json=[]))
    client = mock_client(router, tracing=provider)
    await client.with_options(timeout=5).webhooks.list()
    await client.with_options(tracing=False).webhooks.list()
    assert len(exporter.get_finished_spans()) == 1


def test_a_wrong_tracing_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="tracing must be True, False or a TracerProvider"):
        AsyncRefold(api_key=API_KEY, tracing="yes")  # type: ignore[arg-type]


def test_the_sync_face_traces_too(provider: Any, exporter: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={"x-seen": request.headers["traceparent"]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    with Refold(
        api_key=API_KEY,
        base_url="https://api.refold.invalid",
        rate_limit=None,
        http_client=http,
        tracing=provider,
    ) as client:
        response = client.webhooks.with_raw_response.list()
    [span] = exporter.get_finished_spans()
    assert span.name == "listWebhooks"
    assert response.headers["x-seen"].split("-")[2] == f"{span.get_span_context().span_id:016x}"


_CHILD = textwrap.dedent(
    """
    import sys
    import refold_async, refold_sync
    from refold_async import AsyncRefold
    AsyncRefold(api_key="tk_test_0123456789abcdef")
    print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
    """
)


def test_importing_the_sdk_does_not_import_opentelemetry() -> None:
    """Installed or not, OpenTelemetry is loaded only by a client that asks for tracing."""
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_without_the_extra_tracing_fails_clearly() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if refold[otel] were not installed
        from refold_async import AsyncRefold, RefoldUsageError
        try:
            AsyncRefold(api_key="tk_test_0123456789abcdef", tracing=True)
        except RefoldUsageError as error:
            print(error)
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install 'refold[otel]'" in result.stdout
    assert issubclass(RefoldUsageError, Exception)


async def test_a_request_call_span_carries_its_path(
    router: respx.Router, provider: Any, exporter: Any
) -> None:
    """`client.request()` has no template: its span's `url.template` is the path given, not `/`."""
    router.get(url__regex=r".*/api/v2/public/custom/thing$").mock(
        return_value=httpx.Response(200, json={"ok": True})
    )
    client = mock_client(router, tracing=provider)
    assert await client.request("GET", "/api/v2/public/custom/thing") == {"ok": True}
    [span] = exporter.get_finished_spans()
    assert span.attributes["url.template"] == "/api/v2/public/custom/thing"
