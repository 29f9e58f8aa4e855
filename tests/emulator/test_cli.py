"""The `refold` console script: `demo` end to end, `emulator` as a real process."""

from __future__ import annotations

import contextlib
import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from refold_async._cli import emulator_from_args, main, parse_args
from refold_async.testing import DEFAULT_API_KEY, Emulator
from refold_async.testing._banner import banner
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


@contextlib.contextmanager
def _start(*options: str) -> Iterator[subprocess.Popen[str]]:
    """`refold emulator --port 0 ...` as a process, killed at the end whatever happened."""
    command = [sys.executable, "-m", "refold_async._cli", "emulator", "--port", "0", *options]
    process = subprocess.Popen(  # noqa: S603 - runs our own module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _banner(process: subprocess.Popen[str]) -> list[str]:
    """The start-up lines, up to and including the `export` line."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("export "):
        line = process.stdout.readline()
        assert line, f"the emulator ended early: {process.stderr and process.stderr.read()}"
        lines.append(line.rstrip("\n"))
    return lines


def test_the_emulator_command_serves_until_interrupted() -> None:
    """`refold emulator --port 0` prints its URL, the key and an export line, answers, stops on Ctrl-C."""
    with _start("--api-key", "tk_cli_test") as process:
        lines = _banner(process)
        assert "listening on http://127.0.0.1:" in lines[0]
        url = lines[0].split("listening on ")[1].split()[0]
        assert any(line.split()[:3] == ["API", "key", "tk_cli_test"] for line in lines)
        assert lines[-1] == f"export REFOLD_BASE_URL={url} REFOLD_API_KEY=tk_cli_test"
        answer = httpx.get(
            f"{url}/api/v2/public/webhook", headers={"x-api-key": "tk_cli_test"}, timeout=10
        )
        assert (answer.status_code, answer.json()) == (200, [])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_the_emulator_command_prints_the_default_key_to_use() -> None:
    """Without `--api-key`, the banner names `DEFAULT_API_KEY`, and that key is accepted."""
    with _start("--no-rate-limit") as process:
        lines = _banner(process)
        exported = dict(part.split("=", 1) for part in lines[-1].split()[1:])
        assert exported["REFOLD_API_KEY"] == DEFAULT_API_KEY
        assert "rate limit  off" in "\n".join(lines)
        answer = httpx.get(
            f"{exported['REFOLD_BASE_URL']}/api/v2/public/application/event",
            headers={"x-api-key": exported["REFOLD_API_KEY"]},
            timeout=10,
        )
        assert answer.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_the_emulator_command_faults_as_told() -> None:
    """`--fault-rate 1 --fault-status 503` answers every request 503 in the error envelope."""
    with _start("--fault-rate", "1", "--fault-status", "503", "--seed", "7") as process:
        lines = _banner(process)
        assert "  faults      100% of requests: 503 (seed 7)" in lines
        url = lines[0].split("listening on ")[1].split()[0]
        for _ in range(3):
            answer = httpx.get(
                f"{url}/api/v2/public/application/event",
                headers={"x-api-key": DEFAULT_API_KEY},
                timeout=10,
            )
            assert (answer.status_code, answer.json()["status_code"]) == (503, 503)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_a_live_looking_key_is_never_printed() -> None:
    """A `pk…` key passed by mistake is shown by fingerprint; the export line leaves it out."""
    emulator = Emulator(api_keys=["pk_live_maybe_real_0001"])
    text = banner(emulator, "http://127.0.0.1:1")
    assert "pk_live_maybe_real_0001" not in text
    assert "fingerprint" in text
    assert "REFOLD_API_KEY=" not in text


def test_fault_options_configure_the_served_emulator() -> None:
    """Rate limit, latency and seeded faults reach the emulator the command serves."""
    args = parse_args(
        ["emulator", "--rate-limit", "2.5:3", "--latency", "0.25", "--fault-rate", "1",
         "--fault-status", "429", "--seed", "3"]
    )  # fmt: skip
    emulator = emulator_from_args(args)
    assert (emulator.rate_limit, emulator.latency) == ((2.5, 3), 0.25)
    picked = emulator.faults.pick("listEvents", "/api/v2/public/application/event", "GET")
    assert picked is not None
    assert (picked.status, picked.retry_after) == (429, "1")


def test_the_same_seed_draws_the_same_faults() -> None:
    """`--seed` makes the random faults reproducible; another seed draws others."""

    def draws(seed: str) -> list[str]:
        args = parse_args(["emulator", "--fault-rate", "0.5", "--seed", seed])
        faults = emulator_from_args(args).faults
        return [
            fault.label if (fault := faults.pick(None, "/x", "GET")) else "-" for _ in range(40)
        ]

    assert draws("1") == draws("1")
    assert draws("1") != draws("2")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rate-limit", "20"], "PER_SECOND:BURST"),
        (["--rate-limit", "0:5"], "PER_SECOND > 0"),
        (["--rate-limit", "20:0"], "BURST >= 1"),
        (["--rate-limit", "20:5", "--no-rate-limit"], "not allowed with"),
        (["--fault-rate", "1.5"], "between 0 and 1"),
        (["--fault-rate", "x"], "between 0 and 1"),
        (["--fault-status", "200", "--fault-rate", "0.1"], "400 to 599"),
        (["--fault-status", "5xx", "--fault-rate", "0.1"], "not an HTTP status"),
        (["--latency", "-1"], "not negative"),
        (["--seed", "abc"], "invalid int value"),
    ],
)
def test_bad_emulator_options_are_refused_clearly(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad option exits with status 2 and a message naming what is wrong."""
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", *options])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fault-status", "503"], "--fault-status needs --fault-rate"),
        (["--port", "70000"], "not a TCP port"),
    ],
)
def test_inconsistent_emulator_options_are_refused_before_serving(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options that parse but do not fit together exit 2 before anything listens."""
    assert main(["emulator", *options]) == 2
    assert message in capsys.readouterr().err


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


def test_the_readme_shows_the_banner_as_printed() -> None:
    """The testing guide's `refold emulator` session is what the command prints for those options."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    session = re.search(r"```console\n\$ refold (emulator .*?)\n(.*?)```", readme, re.DOTALL)
    assert session is not None
    args = parse_args(session.group(1).split())
    printed = banner(
        emulator_from_args(args),
        f"http://127.0.0.1:{args.port}",
        fault_rate=args.fault_rate,
        statuses=args.fault_status,
        seed=args.seed,
    )
    assert printed == session.group(2).rstrip("\n")


def test_a_bad_fault_rate_prints_a_plain_percent_sign(capsys: pytest.CaptureFixture[str]) -> None:
    """The error reads `10%`, not argparse's unformatted `10%%`; so does the help."""
    with pytest.raises(SystemExit):
        main(["emulator", "--fault-rate", "1.5"])
    err = capsys.readouterr().err
    assert "10%" in err
    assert "%%" not in err
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    assert "%%" not in capsys.readouterr().out
