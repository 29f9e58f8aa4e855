"""Suite-wide fixtures: a guard against leaked secrets and against real network access.

The secret guard runs for every test: no credential the test created may appear in a
log record, nor in any exception raised through the SDK, rendered as crash reporters
render them (`traceback.TracebackException(..., capture_locals=True)`).
"""

from __future__ import annotations

import inspect
import ipaddress
import logging
import pickle
import socket
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_asyncio.plugin import PytestAsyncioFunction

import refold_async
import refold_async.testing
import refold_sync
from refold_async import _auth, _transport
from refold_async._redact import forms_of

_real_connect = socket.socket.connect

# Modules whose tests wait on real time (rate budgets across processes, the pytest plugin
# in subprocesses, the generator, the examples): about half of the suite's wall time. The
# gate runs them once, alone, on the newest Python (noxfile.py: `tests_latest`), and the
# rest of the suite on every Python, to stay within CI's time budget.
SLOW_MODULES = (
    "tests/batch/test_crash_safety.py",
    "tests/batch/test_processes.py",
    "tests/batch/test_progress_and_scale.py",
    "tests/codegen/test_docs.py",
    "tests/codegen/test_generate.py",
    "tests/core/test_ratelimit_host.py",
    "tests/core/test_ratelimit_redis_outage.py",
    "tests/examples/",
    "tests/plugin/",
    "tests/test_docs_examples.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).parent.parent
    for item in items:
        where = Path(item.path).relative_to(root).as_posix()
        if where.startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


BACKENDS = ("asyncio", "trio")
"""anyio's backends. A module marked `pytest.mark.anyio` runs each async test on both."""


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The backend of anyio's pytest plugin, for the modules marked `pytest.mark.anyio`."""
    backend: str = request.param
    return backend


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Iterator[None]:
    """Leave a test marked `anyio` to anyio's plugin, the backend matrix's runner.

    The suite runs pytest-asyncio in auto mode, which claims every `async def` test and
    runs it on asyncio whatever `anyio_backend` says; this hands the tests of modules
    marked `anyio` back as plain functions, which anyio's plugin runs on each backend.
    Their fixtures must be synchronous: auto mode runs async fixtures on asyncio.
    """
    outcome: Any = yield
    result = outcome.get_result()
    if not result or not inspect.iscoroutinefunction(obj):
        return
    items = result if isinstance(result, list) else [result]
    handed_back: list[Any] = []
    for item in items:
        if isinstance(item, PytestAsyncioFunction) and item.get_closest_marker("anyio"):
            item = pytest.Function.from_parent(
                item.parent,
                name=item.name,
                callspec=getattr(item, "callspec", None),
                callobj=item.obj,
                fixtureinfo=item._fixtureinfo,
                keywords={},
                originalname=item.originalname,
            )
        handed_back.append(item)
    outcome.force_result(handed_back)


def _is_local(address: Any) -> bool:
    if isinstance(address, str):  # a unix socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any socket connection that leaves this machine's loopback."""

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class SecretGuard(set[str]):
    """The credentials a test created (a set), and what the guard found in its exceptions."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[str] = []

    def __repr__(self) -> str:  # a test's frame holds the guard: never show its secrets
        return f"<SecretGuard of {len(self)} secrets, {len(self.findings)} findings>"

    def observe(self, error: BaseException) -> None:
        """Render `error` as a crash reporter would and record any secret it shows."""
        if self:
            self.findings.extend(exception_leaks(error, self))


@pytest.fixture(autouse=True)
def secret_guard(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[SecretGuard]:
    """Fail any test that shows a credential it created, in a log record or an exception.

    Every exception that pytest sees (`pytest.raises`, both forms, and a failing test's
    own) is rendered with `capture_locals=True`, as Sentry or rich would, if it passed
    through the SDK: see `exception_leaks()` for what is checked.
    """
    guard = SecretGuard()
    original = _auth.Secret.__init__

    def recording_init(self: _auth.Secret, value: str) -> None:
        guard.add(value)
        original(self, value)

    monkeypatch.setattr(_auth.Secret, "__init__", recording_init)
    _record_refused_credentials(monkeypatch, guard)
    _observe_exceptions(monkeypatch, guard)
    caplog.set_level(logging.DEBUG, logger="refold")
    yield guard
    leaks = leaked_secrets(caplog.records, guard)
    assert not leaks, f"a secret appeared in a log record: {leaks[:3]}"
    assert not guard.findings, "an exception raised through the SDK shows a secret:\n" + (
        "\n".join(guard.findings[:5])
    )


def _record_refused_credentials(monkeypatch: pytest.MonkeyPatch, guard: SecretGuard) -> None:
    """Have `guard` know credentials that never become a `Secret` because they are refused.

    A caller's key with a newline (`_auth.credential`), and a token a server answered the
    mint with, accepted or refused (`read_mint_answer`): no output may show them either.
    """
    credential = _auth.credential
    read_mint_answer: Callable[..., tuple[str, float | None]]
    read_mint_answer = vars(_transport)["read_mint_answer"]

    def recording_credential(name: str, value: object) -> _auth.Secret:
        if isinstance(value, str):
            guard.add(value)
        return credential(name, value)

    def recording_mint(answer: object, **kwargs: Any) -> tuple[str, float | None]:
        token = answer.get("token") if isinstance(answer, dict) else None
        if isinstance(token, str):
            guard.add(token)
        return read_mint_answer(answer, **kwargs)

    monkeypatch.setattr(_auth, "credential", recording_credential)
    monkeypatch.setattr(_transport, "read_mint_answer", recording_mint)


def _observe_exceptions(monkeypatch: pytest.MonkeyPatch, guard: SecretGuard) -> None:
    """Have `guard` see every exception pytest wraps in an `ExceptionInfo`."""
    info_cls = pytest.ExceptionInfo
    fill_unfilled = info_cls.fill_unfilled
    from_exc_info = info_cls.from_exc_info.__func__  # type: ignore[attr-defined]

    def filling(self: Any, exc_info: tuple[Any, BaseException, Any]) -> None:
        fill_unfilled(self, exc_info)
        guard.observe(exc_info[1])

    def wrapping(cls: Any, exc_info: tuple[Any, BaseException, Any], *args: Any) -> Any:
        guard.observe(exc_info[1])
        return from_exc_info(cls, exc_info, *args)

    monkeypatch.setattr(info_cls, "fill_unfilled", filling)
    monkeypatch.setattr(info_cls, "from_exc_info", classmethod(wrapping))


def shown_forms(secrets: set[str]) -> list[str]:
    """Every form of each secret worth searching for: raw, escaped, percent-encoded."""
    return sorted({form for secret in secrets if len(secret) >= 6 for form in forms_of(secret)})


def leaked_secrets(records: list[logging.LogRecord], secrets: set[str]) -> list[str]:
    """The messages of `records` that contain any form of `secrets` (exceptions included)."""
    forms = shown_forms(secrets)
    return [
        record.getMessage() for record in records for form in forms if form in _record_text(record)
    ]


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage() + str(record.msg) + repr(record.args)
    if record.exc_info and record.exc_info[1] is not None:
        text += repr(record.exc_info[1]) + str(record.exc_info[1])
    return text


# --- what an exception shows -------------------------------------------------------------

_SDK = (Path(refold_async.__file__).parent, Path(refold_sync.__file__).parent)
_SERVER_SIDE = (Path(refold_async.testing.__file__).parent, Path(__file__).parent)
"""The emulator and the tests' own handlers: they play the server and see keys (docs/architecture.md §12)."""

_OWNED_ELSEWHERE: dict[tuple[str, str], str] = {}
"""Frames (with the library frames they call) whose known findings another change fixes:
tolerated here, pinned by xfail tests in tests/test_secrets.py. Remove an entry once its
fix lands."""


def _role(filename: str) -> str | None:
    """`"sdk"`, `"server"`, or `None` for other code (it inherits its caller's role)."""
    path = Path(filename).resolve()
    if any(path.is_relative_to(root) for root in _SERVER_SIDE):
        return "server"
    if any(path.is_relative_to(root) for root in _SDK):
        return "sdk"
    return None


def _owned_elsewhere(frame: traceback.FrameSummary) -> bool:
    path = Path(frame.filename).resolve()
    for root in _SDK:
        if path.is_relative_to(root.parent):
            return (path.relative_to(root.parent).as_posix(), frame.name) in _OWNED_ELSEWHERE
    return False


def _chain(rendered: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    """`rendered` and every exception it shows: causes, contexts, group members."""
    todo, seen = [rendered], set[int]()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(getattr(current, "exceptions", None) or ())


def _passes_through_sdk(error: BaseException) -> bool:
    todo: list[BaseException] = [error]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            if _role(tb.tb_frame.f_code.co_filename) == "sdk":
                return True
            tb = tb.tb_next
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(getattr(current, "exceptions", None) or ())
    return False


def exception_leaks(error: BaseException, secrets: set[str], *, tolerate: bool = True) -> list[str]:
    """Where `error`, rendered as a crash reporter renders it, shows one of `secrets`.

    Only for an exception that passed through the SDK. Every form of a secret is searched
    for (`forms_of`: raw, repr-escaped, percent-encoded). Checked: the rendering with
    `capture_locals=True` must not fail, and must show no secret and no failed repr in
    the locals of SDK frames or of the library frames they call (the emulator's and the
    tests' frames, the server side, are exempt); the text of every exception in the
    chain; and the repr and pickle of the error. With `tolerate`, frames listed in
    `_OWNED_ELSEWHERE` are skipped.
    """
    if not _passes_through_sdk(error):
        return []
    wanted = shown_forms(secrets)
    try:
        rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
    except Exception as crash:  # Python 3.10 and 3.11 give up on a failing repr()
        return [f"rendering with capture_locals=True failed: {crash!r}"]
    found: list[str] = []
    for shown in _chain(rendered):
        found += _frame_leaks(shown.stack, wanted, tolerate=tolerate)
        text = "".join(shown.format_exception_only())
        if any(secret in text for secret in wanted):
            found.append(f"the text of an exception shows a secret: {text[:200]!r}")
    found += _object_leaks(error, wanted)
    return found


def _frame_leaks(stack: traceback.StackSummary, secrets: list[str], *, tolerate: bool) -> list[str]:
    found: list[str] = []
    checked = tolerated = False
    for frame in stack:
        role = _role(frame.filename)
        if role is not None:  # library frames take the role of the frame that called them
            checked, tolerated = role == "sdk", tolerate and _owned_elsewhere(frame)
        if not checked or tolerated or not frame.locals:
            continue
        for name, value in frame.locals.items():
            if any(secret in value for secret in secrets) or "repr() failed" in value:
                found.append(f"local {name!r} of {frame.name}() ({frame.filename}:{frame.lineno})")
    return found


def _object_leaks(error: BaseException, secrets: list[str]) -> list[str]:
    shown = repr(error) + str(error) + repr(getattr(error, "__dict__", {}))
    found = [f"repr or attributes of {error!r}"] * any(secret in shown for secret in secrets)
    if isinstance(error, refold_async.RefoldError):
        pickled = pickle.dumps(error)
        found += [f"pickle of {error!r}"] * any(secret.encode() in pickled for secret in secrets)
    return found


@pytest.fixture
def router() -> Any:
    """A respx router for the test base URL; clients reach it through `mock_client`."""
    import respx

    from tests.helpers import BASE_URL

    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture(autouse=True)
def _private_rate_limit_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Give each test its own host-wide bucket files, as a fresh machine would have.

    Host-scope buckets live in files keyed by base URL and credential; tests reuse keys
    and virtual clocks, so a shared directory would carry one test's schedule into the
    next. Subprocesses a test starts inherit the variable and so share its buckets.
    """
    monkeypatch.setenv("REFOLD_RATE_LIMIT_DIR", str(tmp_path_factory.mktemp("buckets")))
