"""`REFOLD_LOG` and the per-call log line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import httpx
import pytest
import respx

from refold_async import NotFoundError, RetryPolicy, _logs
from tests.helpers import API_KEY, mock_client

from . import ops

# A child process: a fresh interpreter, so the env var is read as an application would.
_CHILD = textwrap.dedent(
    """
    import asyncio, logging, sys
    import httpx
    from refold_async import AsyncRefold

    SETUP

    def answer(request):
        return httpx.Response(200, json={}, headers={"x-request-id": "req_42"})

    async def main():
        http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        for _ in range(2):  # two clients: still one handler
            client = AsyncRefold(
                api_key="KEY", base_url="https://api.refold.invalid", rate_limit=None,
                http_client=http,
            )
        await client.webhooks.list()
        print("handlers", len(logging.getLogger("refold").handlers))

    asyncio.run(main())
    """
)


def _run_child(env_value: str | None, setup: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REFOLD_LOG"}
    if env_value is not None:
        env["REFOLD_LOG"] = env_value
    code = _CHILD.replace("KEY", API_KEY).replace("SETUP", setup)
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )


def test_refold_log_info_prints_one_line_per_call_on_stderr() -> None:
    result = _run_child("info")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "INFO refold: listWebhooks GET /api/v2/public/webhook -> 200 in " in line
    assert "attempts 1, rate-limit wait 0.000s, request id req_42" in line
    assert API_KEY not in result.stderr
    assert "handlers 1" in result.stdout


def test_refold_log_debug_adds_the_attempt_lines() -> None:
    result = _run_child("DEBUG")
    assert "DEBUG refold: listWebhooks GET /api/v2/public/webhook -> 200 in " in result.stderr
    assert "(attempt 1)" in result.stderr
    assert "INFO refold: listWebhooks" in result.stderr
    assert API_KEY not in result.stderr


def test_without_refold_log_nothing_is_printed() -> None:
    result = _run_child(None)
    assert result.stderr == ""
    assert "handlers 0" in result.stdout


def test_an_application_handler_wins_over_refold_log() -> None:
    setup = 'logging.getLogger("refold").addHandler(logging.NullHandler())'
    result = _run_child("info", setup)
    assert result.stderr == ""  # its handler, not ours: nothing on stderr
    assert "handlers 1" in result.stdout


def test_basic_config_gets_the_records_without_a_second_handler() -> None:
    setup = 'logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")'
    result = _run_child("info", setup)
    assert result.stderr == ""
    assert result.stdout.count("INFO listWebhooks GET") == 1  # once, not twice
    assert "handlers 0" in result.stdout


def test_an_unknown_value_warns_and_does_nothing() -> None:
    result = _run_child("verbose", "import warnings; warnings.simplefilter('always')")
    assert "REFOLD_LOG='verbose' is not one of info, debug: ignored" in result.stderr
    assert "listWebhooks" not in result.stderr


@pytest.fixture
def fresh_logging_state() -> Iterator[logging.Logger]:
    """The `refold` logger as an unconfigured application has it; restored afterwards."""
    logger = logging.getLogger("refold")
    saved = (logger.level, list(logger.handlers), _logs._done)
    logger.setLevel(logging.NOTSET)
    _logs._done = False
    yield logger
    for handler in logger.handlers:
        if handler not in saved[1]:
            logger.removeHandler(handler)
    logger.setLevel(saved[0])
    _logs._done = saved[2]


def test_the_handler_is_added_once_per_process(
    fresh_logging_state: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFOLD_LOG", "info")
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # no basicConfig
    before = len(fresh_logging_state.handlers)
    for _ in range(3):
        _logs.configure_from_env()
    added = fresh_logging_state.handlers[before:]
    assert len(added) == 1
    assert isinstance(added[0], logging.StreamHandler)
    assert added[0].stream is sys.stderr
    assert fresh_logging_state.level == logging.INFO


async def test_the_call_line_names_the_failure(
    router: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    router.route().mock(
        return_value=httpx.Response(404, json={"message": "gone"}, headers={"x-request-id": "r9"})
    )
    client = mock_client(router, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NotFoundError):
        await client._transport.send(ops.ORG)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert line.startswith("listWebhooks GET /api/v2/public/webhook -> NotFoundError (HTTP 404)")
    assert "attempts 1" in line
    assert "request id r9" in line
