"""The `refold` console script: `demo` end to end, `emulator` as a real process."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import httpx
import pytest

from refold_async._cli import main
from refold_async.testing import DEFAULT_API_KEY, Emulator
from refold_async.testing._demo import run_demo


async def test_the_demo_processes_every_account_without_429() -> None:
    """Three accounts: 4 calls each plus 2 of setup, every account ok, no 429, no secret shown."""
    progress = io.StringIO()
    emulator = Emulator(execution_delay=0.0)
    report = await run_demo(accounts=3, stream=progress, emulator=emulator)
    assert (report.ok, report.failed, report.rate_limited) == (3, 0, 0)
    assert report.calls == 2 + 3 * 4
    assert emulator.stats.requests == report.calls
    text = report.render() + progress.getvalue()
    assert "3 ok / 0 failed" in text
    assert "100%" in progress.getvalue()
    assert DEFAULT_API_KEY not in text
    assert "emu_sess" not in text


def test_the_demo_refuses_a_live_key(capsys: pytest.CaptureFixture[str]) -> None:
    """With `--base-url`, a `pk` key is refused before anything is sent."""
    code = main(
        ["demo", "--base-url", "https://api.refold.invalid", "--api-key", "pk_live_secret_value"]
    )
    assert code == 2
    captured = capsys.readouterr()
    assert "live" in captured.err
    assert "pk_live_secret_value" not in captured.err + captured.out


def test_the_emulator_command_refuses_non_loopback_hosts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server binds loopback only."""
    assert main(["emulator", "--host", "0.0.0.0", "--port", "0"]) == 2  # noqa: S104 - the refused case
    assert "loopback" in capsys.readouterr().err


def test_the_emulator_command_serves_until_interrupted() -> None:
    """`refold emulator --port 0` prints its URL, answers HTTP, and stops cleanly on Ctrl-C."""
    command = [
        sys.executable,
        "-m",
        "refold_async._cli",
        "emulator",
        "--port",
        "0",
        "--api-key",
        "tk_cli_test",
    ]
    with subprocess.Popen(  # noqa: S603 - runs our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in banner
        assert "tk_cli_test" not in banner
        url = banner.split("listening on ")[1].split()[0]
        answer = httpx.get(
            f"{url}/api/v2/public/webhook", headers={"x-api-key": "tk_cli_test"}, timeout=10
        )
        assert (answer.status_code, answer.json()) == (200, [])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_the_demo_reports_an_unreachable_api_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure to reach `--base-url` ends with one line and exit code 1."""
    from refold_async import APIConnectionError
    from refold_async.testing import _demo

    async def unreachable(**_: object) -> object:
        raise APIConnectionError("POST /x failed after 4 attempts: ConnectError")

    monkeypatch.setattr(_demo, "run_demo", unreachable)
    code = main(["demo", "--base-url", "http://127.0.0.1:9", "--api-key", "tk_test_unreachable_1"])
    assert code == 1
    captured = capsys.readouterr()
    assert "could not start" in captured.err
    assert "Traceback" not in captured.err
    assert "tk_test_unreachable_1" not in captured.err + captured.out
