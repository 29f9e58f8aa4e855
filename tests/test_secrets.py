"""No credential in any output (docs/architecture.md §6, §12).

A full flow runs against the emulator with every logger at DEBUG (root, `refold`,
`httpx`, `httpcore`, `asyncio`), on both faces, over loopback sockets and in-process,
while a server that echoes the credentials it receives answers some calls. Then every
output is searched for every credential: log lines, reprs, the text, attributes and
pickles of errors, `traceback.format_exception()`, and renderings with
`TracebackException(..., capture_locals=True)`, as Sentry or rich make them.

The test's own frames keep credentials in a `Vault` (fingerprint repr), so that a whole
traceback, test frames included, can be searched.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from refold_async import (
    APIDecodeError,
    AsyncRefold,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    RefoldError,
    ServerError,
)
from refold_async.testing import Emulator, FakeClock
from refold_sync import Refold
from tests.conftest import SecretGuard, exception_leaks
from tests.emulator.conftest import ACCOUNT, NO_BACKOFF, TEST_KEY

OTHER_KEY = "tk_test_secrets_other_0002"
BAD_KEY = "tk_test_secrets_refused_03"
LOGGERS = ("", "refold", "httpx", "httpcore", "asyncio")


class Vault:
    """Credentials the test must hold without showing them (its repr hides them)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {"key": TEST_KEY, "other": OTHER_KEY, "bad": BAD_KEY}

    def __repr__(self) -> str:
        return "<Vault>"

    def all(self) -> set[str]:
        return set(self.values.values())


class Outputs:
    """Everything the flow showed, to be searched at the end."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []

    def __repr__(self) -> str:
        return "<Outputs>"

    def add(self, where: str, text: str | bytes) -> None:
        self.texts.append((where, text if isinstance(text, str) else text.decode("latin-1")))

    def error(self, error: BaseException) -> None:
        """Record what a caller, a logger or a crash reporter could show of `error`."""
        assert isinstance(error, RefoldError), f"not a RefoldError: {error!r}"
        self.errors.append(error)
        self.add(f"str({error!r})", str(error))
        self.add(f"repr({error!r})", repr(error) + repr(error.__dict__))
        self.add(f"pickle({error!r})", pickle.dumps(error))
        self.add(f"format_exception({error!r})", "".join(traceback.format_exception(error)))
        rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
        self.add(f"capture_locals({error!r})", "".join(rendered.format()))


class LogCapture(logging.Handler):
    """Formats every record of every logger, exceptions included, as a log file would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Every logger at DEBUG into one capture, restored afterwards."""
    capture = LogCapture()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    yield capture
    logging.getLogger().removeHandler(capture)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


class Echo:
    """In front of the emulator: while armed, answers with the credentials it received."""

    def __init__(self, emulator: Emulator) -> None:
        self.upstream = emulator.transport()
        self.mode: str | None = None

    def __repr__(self) -> str:
        return "<Echo>"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        mode = self.mode
        if mode is None:
            return await self.upstream.handle_async_request(request)
        seen = request.headers.get("x-api-key") or request.headers.get("authorization", "")
        headers = {"x-request-id": f"req-{seen}"}
        if mode == "html-200":
            page = f"<html><body>signed in as {seen}</body></html>"
            return httpx.Response(200, text=page, headers={**headers, "content-type": "text/html"})
        if mode == "json-401":
            body = {"message": f"key {seen} is unknown", "error": seen}
            return httpx.Response(401, json=body, headers=headers)
        return httpx.Response(500, text=f"upstream failed for {seen}", headers=headers)


@pytest.fixture
def emulator() -> Emulator:
    """An emulator accepting the test's two keys, without a rate limit."""
    return Emulator(api_keys=[TEST_KEY, OTHER_KEY], clock=FakeClock(), rate_limit=None)


async def _caught(
    outputs: Outputs, call: Callable[[], Awaitable[object]], echo: Echo | None = None
) -> None:
    try:
        await call()
    except RefoldError as error:
        outputs.error(error)
    else:
        raise AssertionError("the call did not fail")
    finally:
        if echo is not None:
            echo.mode = None


async def _async_flow(emulator: Emulator, vault: Vault, outputs: Outputs) -> None:
    """Calls of every kind, key and token, success and failure, on the async face."""
    echo = Echo(emulator)
    http = httpx.AsyncClient(transport=httpx.MockTransport(echo))
    async with AsyncRefold(
        api_key=vault.values["key"],
        base_url=emulator_base(),
        http_client=http,
        rate_limit=None,
        retry=NO_BACKOFF,
    ) as client:
        outputs.add("repr(client)", repr(client))
        await client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")
        bound = client.for_linked_account(ACCOUNT)
        outputs.add("repr(bound)", repr(bound))
        await bound.hosted_properties.retrieve()  # mints a session token
        minted = await client.session_tokens.create(linked_account_id=ACCOUNT)
        vault.values["minted"] = minted.token
        outputs.add("repr(minted)", repr(minted))
        await _caught(outputs, lambda: client.linked_accounts.retrieve(linked_account_id="nope"))
        for mode in ("html-200", "json-401", "text-500"):
            echo.mode = mode
            await _caught(outputs, lambda: client.linked_accounts.list(), echo)
            echo.mode = mode
            await _caught(outputs, lambda: bound.hosted_properties.retrieve(), echo)
        async with AsyncRefold(
            session_token=vault.values["minted"],
            base_url=emulator_base(),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(echo)),
            rate_limit=None,
        ) as scoped:
            outputs.add("repr(scoped)", repr(scoped))
            await scoped.hosted_properties.retrieve()
            echo.mode = "html-200"
            await _caught(outputs, lambda: scoped.hosted_properties.retrieve(), echo)
        wrong = client.with_options(api_key=vault.values["bad"])
        outputs.add("repr(wrong)", repr(wrong))
        await _caught(outputs, lambda: wrong.linked_accounts.list())


def emulator_base() -> str:
    from refold_async.testing import BASE_URL

    return BASE_URL


def _search(outputs: Outputs, logs: LogCapture, secrets: set[str]) -> list[str]:
    texts = [*outputs.texts, *(("log", line) for line in logs.lines)]
    return [
        f"{where}: {text[:300]!r}"
        for where, text in texts
        for secret in secrets
        if len(secret) >= 6 and secret in text
    ]


async def test_a_full_async_flow_shows_no_secret_anywhere(
    emulator: Emulator, logs: LogCapture, secret_guard: SecretGuard
) -> None:
    """Every log line, repr, error text, pickle and traceback rendering is clean."""
    vault, outputs = Vault(), Outputs()
    await _async_flow(emulator, vault, outputs)
    secrets = vault.all() | secret_guard
    assert len(outputs.errors) == 9
    kinds = {type(error) for error in outputs.errors}
    assert {NotFoundError, APIDecodeError, AuthenticationError, ServerError} <= kinds
    assert any("DEBUG" in line for line in logs.lines)
    assert not _search(outputs, logs, secrets)
    for error in outputs.errors:
        assert not exception_leaks(error, secrets, tolerate=False)


async def test_over_loopback_every_logger_stays_clean(
    emulator: Emulator, logs: LogCapture, secret_guard: SecretGuard
) -> None:
    """Over real sockets (the client's own pool) httpx's and httpcore's DEBUG logs are clean
    (the pool's own transport logs through httpx's logger only)."""
    vault, outputs = Vault(), Outputs()
    async with (
        emulator.server() as server,
        AsyncRefold(api_key=vault.values["key"], base_url=server.url, rate_limit=None) as client,
    ):
        await client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")
        await client.for_linked_account(ACCOUNT).hosted_properties.retrieve()
        await _caught(outputs, lambda: client.linked_accounts.retrieve(linked_account_id="nope"))
    assert any(line.startswith(("httpx", "httpcore")) for line in logs.lines)
    assert not _search(outputs, logs, vault.all() | secret_guard)


def test_the_sync_face_shows_no_secret_anywhere(
    emulator: Emulator, logs: LogCapture, secret_guard: SecretGuard
) -> None:
    """The same for `refold_sync.Refold`: errors cross the loop thread clean."""
    vault, outputs = Vault(), Outputs()
    echo = Echo(emulator)
    with Refold(
        api_key=vault.values["key"],
        base_url=emulator_base(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(echo)),
        rate_limit=None,
        retry=NO_BACKOFF,
    ) as client:
        outputs.add("repr(sync client)", repr(client))
        client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")
        bound = client.for_linked_account(ACCOUNT)
        outputs.add("repr(sync bound)", repr(bound))
        bound.hosted_properties.retrieve()
        for mode in ("html-200", "json-401", "text-500"):
            echo.mode = mode
            try:
                bound.hosted_properties.retrieve()
            except RefoldError as error:
                outputs.error(error)
            finally:
                echo.mode = None
    assert len(outputs.errors) == 3
    assert not _search(outputs, logs, vault.all() | secret_guard)
    for error in outputs.errors:
        assert not exception_leaks(error, vault.all() | secret_guard, tolerate=False)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"base_url": "ftp://nowhere"}, id="bad-base-url"),
        pytest.param({"session_token": "tok_secrets_refused\n"}, id="bad-token"),
        pytest.param({"api_key": TEST_KEY + "\n"}, id="bad-key"),
        pytest.param({"default_headers": {"x-a": "b\r\n"}}, id="bad-header"),
        pytest.param({"expect_environment": "live"}, id="wrong-environment"),
    ],
)
@pytest.mark.parametrize("face", [AsyncRefold, Refold], ids=["async", "sync"])
def test_a_failed_constructor_renders_without_secrets(
    face: type[Any], options: dict[str, Any], secret_guard: SecretGuard
) -> None:
    """A constructor that raises leaves no credential in its frames, and its traceback renders.

    Before `api_key=` showed in `__init__`'s locals, and on Python 3.10 and
    3.11 the half-built client's failing repr aborted the rendering.
    """
    secrets = {TEST_KEY, TEST_KEY + "\n", "tok_secrets_refused", "tok_secrets_token_04"}
    arguments = {"api_key": TEST_KEY, "session_token": "tok_secrets_token_04", **options}
    with pytest.raises(RefoldError) as info:
        face(**arguments)
    del arguments
    rendered = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    text = "".join(rendered.format())
    assert "not initialised" in text or face is Refold  # the half-built client's repr
    assert not exception_leaks(info.value, secrets, tolerate=False)


def test_a_failed_with_options_renders_without_secrets(secret_guard: SecretGuard) -> None:
    """`with_options()` drops raw credentials before checking anything else."""
    client = AsyncRefold(api_key=TEST_KEY)
    with pytest.raises(InvalidArgumentError) as info:
        client.with_options(api_key=OTHER_KEY, session_token="tok_secrets_05", base_url="ftp://x")
    assert not exception_leaks(info.value, {TEST_KEY, OTHER_KEY, "tok_secrets_05"}, tolerate=False)


def test_a_half_built_client_has_a_repr() -> None:
    """`repr()` of a client whose `__init__` never ran (or raised) does not fail."""
    assert "not initialised" in repr(object.__new__(AsyncRefold))
    assert "not initialised" in repr(object.__new__(Refold))


async def test_a_body_json_cannot_encode_leaves_no_key_in_frames(emulator: Emulator) -> None:
    """The request-building error (a set in the body) renders without the key."""
    async with emulator.client(api_key=TEST_KEY, rate_limit=None) as client:
        with pytest.raises(InvalidArgumentError) as info:
            await client._transport.send(_POST_ANY, body={"values": {1, 2}})
    assert not exception_leaks(info.value, {TEST_KEY}, tolerate=False)


def _post_any() -> Any:
    from refold_async._operation import AuthScope, Operation

    return Operation(
        id="postAnything", method="POST", path="/anything", auth=AuthScope.ORG_KEY, returns=Any
    )


_POST_ANY = _post_any()
