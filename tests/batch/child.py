"""A batch job in a child process, for the kill -9 and shard tests.

    python -m tests.batch.child URL JOURNAL COUNT [--shard I N] [--redis PREFIX]
        [--rate PER_SECOND BURST] [--upsert] [--reconcile] [--wait SECONDS]
        [--file-size-limit BYTES] [--fork-server]

Runs `support.create_account` (one POST per item) over keys `k00000...` against the
loopback emulator at URL, with the journal at JOURNAL; prints the summary at the end.
`--reconcile` checks unknown accounts first (`check_linked_account()`); `--wait` waits
for a journal another run holds; `--file-size-limit` caps the size of files this process
may write (RLIMIT_FSIZE, SIGXFSZ ignored: writes past it fail with EFBIG). Exit status:
0 done, 3 `JournalWriteError`, 4 `JournalLockedError` (its pid on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import sys
import traceback

from refold_async import AsyncRefold, JournalLockedError, JournalWriteError, RateLimit
from refold_async.batch import check_linked_account

from .support import TEST_KEY, create_account, upsert_account


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("journal")
    parser.add_argument("count", type=int)
    parser.add_argument("--shard", type=int, nargs=2)
    parser.add_argument("--redis")
    parser.add_argument("--rate", type=float, nargs=2, default=(200.0, 10))
    parser.add_argument("--upsert", action="store_true")
    parser.add_argument("--reconcile", action="store_true")
    parser.add_argument("--wait", type=float)
    parser.add_argument("--file-size-limit", type=int)
    parser.add_argument("--fork-server", action="store_true")
    return parser.parse_args()


def fork_server(args: argparse.Namespace) -> None:
    """For each line on stdin, fork a run of the job (the imports done once, here): print
    `pid N` as it starts and `exit N STATUS` once it ended (a negative signal number if
    killed). Starting a Python process takes seconds on a loaded machine; a fork does not.
    A warm-up job first builds what the SDK builds on first use (its decoders), so that
    each run starts sending at once."""
    asyncio.run(_warm_up(args.url))
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:  # the run: its own process, its own event loop, its own lock
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            code = 1
            try:
                asyncio.run(run(args))
                code = 0
            except SystemExit as exit_:
                code = int(exit_.code or 0)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        sys.stdout.write(f"pid {pid}\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        sys.stdout.write(f"exit {pid} {code}\n")
        sys.stdout.flush()


async def _warm_up(url: str) -> None:
    async with AsyncRefold(api_key=TEST_KEY, base_url=url) as client:
        await client.batch(["warm-up"], upsert_account, progress=False, handle_signals=False)


async def run(args: argparse.Namespace) -> None:
    if args.file_size_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size_limit,) * 2)
    rate = RateLimit(per_second=args.rate[0], burst=int(args.rate[1]))
    options: dict[str, object] = {"rate_limit": rate}
    if args.redis:
        import redis.asyncio as redis

        from refold_async import RedisRateLimiter

        options["rate_limiter"] = RedisRateLimiter(
            redis.from_url("redis://127.0.0.1:6379/0"), rate, prefix=args.redis
        )
    async with AsyncRefold(api_key=TEST_KEY, base_url=args.url, **options) as client:  # type: ignore[arg-type]
        keys = [f"k{i:05d}" for i in range(args.count)]
        fn = upsert_account if args.upsert else create_account
        try:
            report = await client.batch(
                keys, fn, journal=args.journal, shard=tuple(args.shard) if args.shard else None,
                reconcile=check_linked_account() if args.reconcile else None,
                wait_for_journal=args.wait,
            )  # fmt: skip
        except JournalWriteError as error:
            if error.report is not None:
                sys.stdout.write(error.report.summary() + "\n")
            sys.stderr.write(f"JournalWriteError errno={error.errno}\n")
            raise SystemExit(3) from None
        except JournalLockedError as error:
            sys.stderr.write(f"JournalLockedError pid={error.pid} host={error.host}\n")
            raise SystemExit(4) from None
    sys.stdout.write(report.summary() + "\n")


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.fork_server:
        fork_server(arguments)
    else:
        asyncio.run(run(arguments))
