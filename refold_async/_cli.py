"""The `refold` console script: `refold demo`, `refold emulator`, `refold batch report`.

- `refold demo [--accounts N] [--base-url URL --api-key KEY]` runs a batch job through
  the SDK (`client.batch()`) against the in-process emulator (or a test environment),
  with progress on stderr and a summary on stdout (`refold_async.testing._demo`).
- `refold emulator [--port N]` serves the emulator over loopback HTTP until Ctrl-C.
- `refold batch report JOURNAL...` summarizes batch journals (the shards of one job
  together); exit status 1 if any item failed or is unknown.

Neither ever prints a key or a token. The emulator's own code is imported only when a
command needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from ._client import is_loopback_host
from ._errors import EnvironmentMismatchError, RefoldError
from .batch import BatchInterrupted, BatchReport

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refold", description="Tools of the Refold Python SDK.")
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
    server = commands.add_parser("emulator", help="serve the emulator over loopback HTTP")
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
        "--execution-delay", type=float, default=1.0, help="seconds an execution runs"
    )
    server.add_argument("--no-rate-limit", action="store_true", help="do not enforce 20/s, burst 5")
    batch = commands.add_parser("batch", help="batch job tools")
    batch_commands = batch.add_subparsers(dest="batch_command", required=True)
    report = batch_commands.add_parser(
        "report", help="summarize batch journals (several: the shards of one job)"
    )
    report.add_argument("journals", nargs="+", metavar="JOURNAL", help="a journal file")
    report.add_argument(
        "--jsonl", metavar="PATH", help="also write each unfinished or failed item to PATH"
    )
    return parser


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
        report = asyncio.run(
            run_demo(accounts=args.accounts, base_url=args.base_url, api_key=api_key)
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


async def _serve(args: argparse.Namespace) -> None:
    from refold_async.testing import DEFAULT_API_KEY, Emulator

    emulator = Emulator(
        api_keys=args.api_keys or [DEFAULT_API_KEY],
        rate_limit=None if args.no_rate_limit else (20.0, 5),
        execution_delay=args.execution_delay,
    )
    async with emulator.server(host=args.host, port=args.port) as server:
        keys = len(emulator.api_keys)
        _out(
            f"Refold emulator listening on {server.url} ({keys} API key{'s' if keys > 1 else ''}; Ctrl-C stops)"
        )
        await server.serve_forever()


def _emulator(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host):
        _err(f"{args.host} is not a loopback address: the emulator serves this machine only")
        return EXIT_USAGE
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `refold` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    if args.command == "batch":
        return _batch_report(args)
    return _emulator(args)


if __name__ == "__main__":
    raise SystemExit(main())
