"""The `refold` console script: `refold demo`, `refold emulator`, `refold batch ...`.

- `refold demo [--accounts N] [--base-url URL --api-key KEY]` runs a batch job through
  the SDK (`client.batch()`) against the in-process emulator (or a test environment),
  with progress on stderr and a summary on stdout (`refold_async.testing._demo`).
- `refold emulator [--port N] [fault options]` serves the emulator over loopback HTTP until
  Ctrl-C, after printing its base URL, the API key to use and an `export` line for both
  (`refold_async.testing._banner`); `--fault-rate`, `--fault-status`, `--latency`,
  `--seed` and `--rate-limit PER_SECOND:BURST` make it misbehave on purpose.
- `refold batch report JOURNAL...` summarizes batch journals (the shards of one job
  together); exit status 1 if any item failed or is unknown.
- `refold batch resolve JOURNAL KEY... --as succeeded|failed` marks items a run left
  unknown, once you have checked them: `succeeded` ones are skipped on resume, `failed`
  ones run again.
- `refold --version` prints the installed version.

`demo` and `batch report` never print a key or a token. `emulator` prints the emulator's
own test keys, which are fakes the emulator made up or was given for the purpose (it
is the server side); a key that looks live (`pk…`) is shown by fingerprint only. The
emulator's own code is imported only when a command needs it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from . import __version__
from ._errors import EnvironmentMismatchError, RefoldError
from ._url import is_loopback_host
from .batch import BatchInterrupted, BatchReport

if TYPE_CHECKING:
    from .testing import Emulator

__all__ = ["emulator_from_args", "main", "package_version", "parse_args"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refold", description="Tools of the Refold Python SDK.")
    parser.add_argument("--version", action="version", version=f"refold {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run a batch job through the SDK, against the emulator by default"
    )
    demo.add_argument(
        "--accounts", type=_positive, default=100, help="linked accounts to process (default 100)"
    )
    demo.add_argument("--base-url", help="a Refold API to use instead of the in-process emulator")
    demo.add_argument(
        "--api-key", help="a test (tk...) key for --base-url; default: $REFOLD_API_KEY"
    )
    _emulator_parser(commands.add_parser("emulator", help="serve the emulator over loopback HTTP"))
    batch = commands.add_parser("batch", help="batch job tools")
    batch_commands = batch.add_subparsers(dest="batch_command", required=True)
    report = batch_commands.add_parser(
        "report", help="summarize batch journals (several: the shards of one job)"
    )
    report.add_argument("journals", nargs="+", metavar="JOURNAL", help="a journal file")
    report.add_argument(
        "--jsonl", metavar="PATH", help="also write each unfinished or failed item to PATH"
    )
    resolve = batch_commands.add_parser(
        "resolve", help="mark unknown items of a journal as succeeded or failed, by hand"
    )
    resolve.add_argument("journal", metavar="JOURNAL", help="the job's journal")
    resolve.add_argument("keys", nargs="+", metavar="KEY", help="an unknown item's key")
    resolve.add_argument(
        "--as", dest="state", required=True, choices=("succeeded", "failed"),
        help="succeeded: its work took effect (skipped on resume); failed: it did not "
        "(runs again on resume)",
    )  # fmt: skip
    return parser


def package_version() -> str:
    """The installed distribution's version; the package's own where it is not installed."""
    try:
        return importlib.metadata.version("refold")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return __version__


def _emulator_parser(server: argparse.ArgumentParser) -> None:
    server.add_argument(
        "--port", type=int, default=8787, help="TCP port (default 8787; 0 picks a free one)"
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    server.add_argument(
        "--api-key", action="append", dest="api_keys", metavar="KEY",
        help="a key to accept (repeatable); default: refold_async.testing.DEFAULT_API_KEY",
    )  # fmt: skip
    server.add_argument(
        "--execution-delay", type=_seconds, default=1.0, help="seconds an execution runs"
    )
    limits = server.add_mutually_exclusive_group()
    limits.add_argument(
        "--rate-limit", type=_rate_limit, default=(20.0, 5), metavar="PER_SECOND:BURST",
        help="the server's budget per credential (default 20:5)",
    )  # fmt: skip
    limits.add_argument("--no-rate-limit", action="store_true", help="enforce no rate limit")
    server.add_argument(
        "--fault-rate", type=_rate, default=0.0, metavar="RATE",
        help="fault this share of requests, 0 to 1 (default 0)",
    )  # fmt: skip
    server.add_argument(
        "--fault-status", type=_statuses, metavar="CODE[,CODE...]",
        help="answer faulted requests with these statuses (400-599), drawn at random; "
        "default: a mix of 5xx, 429 and dropped connections",
    )  # fmt: skip
    server.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS",
        help="delay every answer by this much (default 0)",
    )  # fmt: skip
    server.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the fault draws (default 0): same seed, same faults",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be finite and not negative")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1 (0.1 faults 10%)")
    return value


def _statuses(text: str) -> tuple[int, ...]:
    codes: list[int] = []
    for part in text.split(","):
        try:
            code = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not an HTTP status") from None
        if not 400 <= code <= 599:
            raise argparse.ArgumentTypeError(
                f"{code} is not an error status: fault statuses are 400 to 599"
            )
        codes.append(code)
    return tuple(codes)


def _rate_limit(text: str) -> tuple[float, int]:
    per_second, colon, burst = text.partition(":")
    try:
        limit = (float(per_second), int(burst))
    except ValueError:
        limit = None
    if not colon or limit is None or not (math.isfinite(limit[0]) and limit[0] > 0) or limit[1] < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PER_SECOND:BURST with PER_SECOND > 0 and a whole BURST >= 1, e.g. 20:5"
        )
    return limit


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(f"refold: {text}\n")


def _demo(args: argparse.Namespace) -> int:
    from refold_async.testing._demo import run_demo

    api_key: str | None = None
    if args.base_url:
        api_key = args.api_key or os.environ.get("REFOLD_API_KEY")
        if not api_key:
            _err("--base-url needs --api-key (or REFOLD_API_KEY): a test key")
            return EXIT_USAGE
        if api_key.startswith("pk"):  # a friendly early word; run_demo's client enforces it
            _err("refusing a live (pk...) key: the demo writes data; use a test (tk...) key")
            return EXIT_USAGE
    try:
        report = anyio.run(
            partial(run_demo, accounts=args.accounts, base_url=args.base_url, api_key=api_key)
        )
    except BatchInterrupted as stopped:
        _out(stopped.report.summary())
        return EXIT_INTERRUPTED
    except EnvironmentMismatchError:
        _err("refusing a key that is not a test (tk...) key: the demo writes data")
        return EXIT_USAGE
    except RefoldError as error:  # e.g. an unreachable --base-url: say so, no traceback
        _err(f"the demo could not start: {error}")
        return EXIT_FAILED
    _out(report.render())
    return EXIT_OK if report.failed == 0 else EXIT_FAILED


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    """The emulator `refold emulator` serves, configured from its parsed options."""
    from refold_async.testing import DEFAULT_API_KEY, Emulator, Fault

    emulator = Emulator(
        api_keys=args.api_keys or [DEFAULT_API_KEY],
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        execution_delay=args.execution_delay,
        latency=args.latency,
    )
    if args.fault_rate > 0:
        if args.fault_status:
            chosen = [
                Fault(status=code, retry_after="1" if code == 429 else None)
                for code in args.fault_status
            ]
            emulator.faults.random(rate=args.fault_rate, seed=args.seed, faults=chosen)
        else:
            emulator.faults.random(rate=args.fault_rate, seed=args.seed)
    return emulator


async def _serve(args: argparse.Namespace) -> bool:
    """Serve until Ctrl-C; True when it was a Ctrl-C that stopped it."""
    from refold_async.testing._banner import banner

    emulator = emulator_from_args(args)
    # Ctrl-C arrives as a message to a task (anyio's signal receiver) rather than as a
    # KeyboardInterrupt raised wherever the main thread happens to be: an interrupt landing
    # inside a task could leave the shutdown waiting on it.
    interrupted = False
    async with emulator.server(host=args.host, port=args.port) as server:
        _out(
            banner(
                emulator,
                server.url,
                fault_rate=args.fault_rate,
                statuses=args.fault_status,
                seed=args.seed,
            )
        )
        async with anyio.create_task_group() as tasks:

            async def until_interrupted() -> None:
                nonlocal interrupted
                try:
                    receiver = anyio.open_signal_receiver(signal.SIGINT)
                except NotImplementedError:  # no signal handlers on this platform
                    return
                with receiver as signals:
                    async for _ in signals:
                        interrupted = True
                        tasks.cancel_scope.cancel()
                        return

            tasks.start_soon(until_interrupted)
            await server.serve_forever()
    return interrupted


def _emulator(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host):
        _err(f"{args.host} is not a loopback address: the emulator serves this machine only")
        return EXIT_USAGE
    if args.fault_status and args.fault_rate == 0:
        _err("--fault-status needs --fault-rate (the share of requests to fault), e.g. 0.1")
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        _err(f"--port {args.port} is not a TCP port (0 to 65535; 0 picks a free one)")
        return EXIT_USAGE
    try:
        if anyio.run(_serve, args):
            _out("stopped")
    except KeyboardInterrupt:  # where the loop could not take the signal itself
        _out("stopped")
    return EXIT_OK


def _batch_report(args: argparse.Namespace) -> int:
    try:
        reports = [BatchReport.from_journal(path) for path in args.journals]
    except OSError as error:
        _err(f"cannot read {error.filename}: {error.strerror}")
        return EXIT_USAGE
    except RefoldError as error:
        _err(str(error))
        return EXIT_USAGE
    merged = BatchReport.merge(*reports)
    shards = f" ({len(reports)} journals)" if len(reports) > 1 else ""
    _out(merged.summary() + shards)
    if args.jsonl:
        merged.to_jsonl(args.jsonl)
    return EXIT_OK if merged.ok else EXIT_FAILED


def _batch_resolve(args: argparse.Namespace) -> int:
    from .batch import resolve

    try:
        resolve(Path(args.journal), args.keys, args.state)
    except OSError as error:
        _err(f"cannot update {args.journal}: {error.strerror}")
        return EXIT_USAGE
    except RefoldError as error:
        _err(str(error))
        return EXIT_USAGE
    _out(f"{len(args.keys)} items marked {args.state} in {args.journal}")
    return EXIT_OK


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line (argparse exits with status 2 and a message on bad input)."""
    return _parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `refold` command line; returns the exit status."""
    args = parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "batch":
        if args.batch_command == "resolve":
            return _batch_resolve(args)
        return _batch_report(args)
    return _emulator(args)


if __name__ == "__main__":
    raise SystemExit(main())
