"""Every Python example of the README and the docs runs, as written, against the emulator.

Each fenced `python` block of README.md and docs/**/*.md is one test. The emulator is
served on loopback and `REFOLD_BASE_URL` / `REFOLD_API_KEY` point at it, as a user's
environment would point at the API, so examples that build their own client from the
environment reach it. Then, by what the block is:

- a block with top-level `await` runs on an event loop, with `client`, an `AsyncRefold`
  from the environment, already there (the pages say so);
- other blocks run as a script (`asyncio.run(...)` in them included);
- test functions without arguments that a block defines are called; a block whose tests
  take fixtures (the pytest plugin's) is a test file: it runs under pytest in a
  subprocess, in pytest-asyncio's strict mode;
- a FastAPI `app` a block defines is served with its lifespan (through httpx's ASGI
  transport), and each of its routes is called;
- a batch journal a block writes must show every item succeeded.

A block that cannot run is preceded by `<!-- not-run: the reason -->`; the reason is
required. The emulator is seeded with what the pages name: linked account `acct_1`,
webhook `wh_1`, and `accounts.txt` / `report.csv` in the working directory.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from refold_async import AsyncRefold, BatchReport, _useragent
from refold_async.testing import Emulator
from refold_async.webhooks import sign
from refold_sync import Refold

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
MARKER = re.compile(r"<!--\s*not-run:(?P<reason>.*?)-->", re.S)
FIXTURE_TEST = re.compile(r"^\s*(?:async\s+)?def test_\w+\(\s*\w", re.M)
STRICT_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"


@attrs.frozen
class Example:
    """One fenced block: where it is, its code, and why it does not run (if it does not)."""

    page: Path
    line: int
    code: str
    not_run: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def examples() -> list[Example]:
    found: list[Example] = []
    for page in PAGES:
        text = page.read_text()
        for fence in FENCE.finditer(text):
            before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            found.append(
                Example(
                    page=page,
                    line=text.count("\n", 0, fence.start()) + 1,
                    code=textwrap.dedent(fence.group("body")),
                    not_run=marker.group("reason").strip() if marker else None,
                )
            )
    return found


EXAMPLES = examples()


def test_the_pages_have_examples_and_every_skip_says_why() -> None:
    """The collector finds the blocks (README and guides), and each not-run marker has a reason."""
    pages = {example.page.name for example in EXAMPLES}
    assert {"README.md", "quickstart.md", "batch.md", "web-backends.md", "testing.md"} <= pages
    assert all(example.not_run != "" for example in EXAMPLES)
    for page in PAGES:  # a marker must sit right before a block, or it silently does nothing
        text = page.read_text()
        for marker in MARKER.finditer(text):
            assert marker.group("reason").strip(), f"{page.name}: a not-run marker gives no reason"
            after = text[marker.end() :].lstrip()
            assert after.startswith("```python"), f"{page.name}: a not-run marker before no block"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator on loopback, seeded, with the environment and a working directory set."""
    emulator = Emulator(rate_limit=None)
    asyncio.run(_seed(emulator))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.txt").write_text("acct_1\nacct_2\nacct_3\n")
    (tmp_path / "report.csv").write_bytes(b"month,total\n2026-11,42\n")
    monkeypatch.setenv("REFOLD_RATE_LIMIT_DIR", str(tmp_path / "ratelimit"))
    monkeypatch.delenv("REFOLD_LOG", raising=False)
    # set_app_info() changes the process's User-Agent: put it back after the example.
    monkeypatch.setattr(_useragent, "_current", _useragent.current_user_agent())
    with emulator.serve_in_background() as server:
        monkeypatch.setenv("REFOLD_BASE_URL", server.url)
        monkeypatch.setenv("REFOLD_API_KEY", emulator.api_key)
        yield emulator


async def _seed(emulator: Emulator) -> None:
    async with emulator.client() as client:
        await client.linked_accounts.upsert(linked_account_id="acct_1", name="Acme")
        await client.events.create(name="report_ready", response="ok")
        hook = await client.webhooks.create(
            webhook_url="https://example.com/hooks", webhook_events=["Workflow Completed"]
        )
    webhooks = emulator.world().webhooks  # the pages call it wh_1
    document = webhooks.pop(str(hook.id))
    webhooks["wh_1"] = {**document, "_id": "wh_1"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.name)
def test_the_example_runs(
    example: Example, served: Emulator, request: pytest.FixtureRequest
) -> None:
    """The block runs as written; its tests pass and its app answers."""
    if example.not_run is not None:
        pytest.skip(example.not_run)
    if FIXTURE_TEST.search(example.code):
        # pytester moves to a directory of its own: only for the blocks that need it.
        _run_as_test_file(example, request.getfixturevalue("pytester"))
        return
    namespace: dict[str, Any] = {"__name__": "__docs_example__"}
    code = compile(example.code, example.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(_run_awaiting(code, namespace))
        else:
            exec(code, namespace)  # noqa: S102 - our own documentation
        _call_tests(namespace)
        _serve_app(namespace, served)
    finally:
        _close_clients(namespace)
    _check_journals(Path.cwd())


async def _run_awaiting(code: Any, namespace: dict[str, Any]) -> None:
    namespace["client"] = AsyncRefold()
    await eval(code, namespace)  # noqa: S307 - our own documentation


def _call_tests(namespace: dict[str, Any]) -> None:
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            assert not inspect.signature(value).parameters, name
            if inspect.iscoroutinefunction(value):
                asyncio.run(value())
            else:
                value()


def _check_journals(directory: Path) -> None:
    """A batch example's journal shows every item succeeded: a printed failure is a failure."""
    for journal in directory.glob("*.jsonl"):
        counts = BatchReport.from_journal(journal).counts
        assert counts["succeeded"] > 0, (journal.name, counts)
        assert counts["failed"] == counts["unknown"] == 0, (journal.name, counts)


def _close_clients(namespace: dict[str, Any]) -> None:
    for value in list(namespace.values()):
        if isinstance(value, AsyncRefold):
            asyncio.run(value.aclose())
        elif isinstance(value, Refold):
            value.close()


def _serve_app(namespace: dict[str, Any], emulator: Emulator) -> None:
    """Call every route of a FastAPI app the block made, its lifespan running."""
    app = namespace.get("app")
    if app is None or type(app).__name__ != "FastAPI":
        return
    asyncio.run(_call_routes(app, emulator.api_key))


async def _call_routes(app: Any, api_key: str) -> None:
    from fastapi.routing import APIRoute

    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert routes
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app.test") as http,
    ):
        for route in routes:
            if route.path == "/refold/webhook":
                await _check_webhook_receiver(http, route.path, api_key)
            else:
                assert route.methods == {"GET"}, route.path
                # The app authenticates its user by a header the docs name; acct_1 is seeded.
                answer = await http.get(route.path, headers={"x-user-id": "acct_1"})
                assert answer.status_code == 200, answer.text


async def _check_webhook_receiver(http: httpx.AsyncClient, path: str, api_key: str) -> None:
    body = json.dumps(
        {"event": "Workflow Errored", "instance_id": "run_1", "workflow_name": "Sync"}
    ).encode()
    signed = {"x-cobalt-signature": sign(body, api_key), "content-type": "application/json"}
    assert (await http.post(path, content=body, headers=signed)).status_code == 200
    duplicate = await http.post(path, content=body, headers=signed)
    assert duplicate.status_code == 200  # a re-delivery is acknowledged, not handled again
    forged = {**signed, "x-cobalt-signature": "0" * 64}
    assert (await http.post(path, content=body, headers=forged)).status_code == 401


def _run_as_test_file(example: Example, pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(test_docs_example=example.code)
    result = pytester.runpytest_subprocess("-p", "no:refold", "-p", "_refold_pytest_plugin")
    result.assert_outcomes(passed=len(re.findall(r"def test_", example.code)))
