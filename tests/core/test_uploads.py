"""`files=` on the two event-firing operations: multipart, streamed, checked, retried safely."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from refold_async import (
    AsyncRefold,
    InvalidArgumentError,
    RateLimitError,
    RetryPolicy,
)
from refold_async._operation import AuthScope, Operation
from refold_async._request import build_request
from refold_async.operations import OPERATIONS
from refold_async.testing._multipart import decode_request_body
from refold_async.testing._router import Router
from tests.helpers import API_KEY, BASE_URL

ACCOUNT = "acct-9"
CHUNK = 64 * 1024


class RecordingTransport(httpx.AsyncBaseTransport):
    """Reads each request body chunk by chunk, as a socket would, and answers in turn."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers) or [httpx.Response(200, json={"message": "ok"})]
        self.requests: list[tuple[httpx.Headers, bytes, list[int]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chunks = [chunk async for chunk in request.stream]  # type: ignore[union-attr]
        self.requests.append((request.headers, b"".join(chunks), [len(c) for c in chunks]))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def form(self, index: int = -1) -> dict[str, Any]:
        """The request's form as the emulator reads it."""
        headers, body, _ = self.requests[index]
        op = OPERATIONS["triggerEvent"]
        return decode_request_body(op, {k.lower(): v for k, v in headers.items()}, body)


class ReadRecorder(io.RawIOBase):
    """A binary file object that records the size of every read asked of it."""

    def __init__(self, data: bytes, *, seekable: bool = True) -> None:
        self._data = io.BytesIO(data)
        self._seekable = seekable
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("tell")
        return self._data.tell()

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return self._data.read(size)

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - httpx calls read()
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _client(transport: httpx.AsyncBaseTransport) -> AsyncRefold:
    return AsyncRefold(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limit=None,
        linked_account_id=ACCOUNT,
        retry=RetryPolicy(backoff_base=0.0, backoff_cap=0.0),
        http_client=httpx.AsyncClient(transport=transport),
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_without_files_the_body_stays_json() -> None:
    """JSON is the default: no files, no form."""
    transport = RecordingTransport()
    await _client(transport).events.trigger(event="signup", payload={"plan": "pro"})
    headers, body, _ = transport.requests[0]
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"event": "signup", "payload": {"plan": "pro"}}


async def test_files_send_a_form_with_the_other_fields() -> None:
    """With files the body is multipart: text fields as they are, `payload` as JSON text."""
    transport = RecordingTransport()
    client = _client(transport)
    await client.events.trigger(
        event="signup",
        payload={"plan": "pro"},
        files={"avatar": ("me.png", b"\x89PNG-bytes", "image/png"), "notes": b"plain"},
        extra_body={"source": "import"},
    )
    headers, body, _ = transport.requests[0]
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="payload"\r\n\r\n{"plan":"pro"}\r\n' in body
    assert b'name="source"\r\n\r\nimport\r\n' in body
    assert b'name="avatar"; filename="me.png"\r\nContent-Type: image/png\r\n' in body
    form = transport.form()
    assert form["event"] == "signup"
    assert form["source"] == "import"
    assert form["payload"]["plan"] == "pro"
    assert form["payload"]["avatar"]["sha256"] == _sha(b"\x89PNG-bytes")
    assert form["payload"]["notes"] == {
        "filename": "notes",
        "content_type": "application/octet-stream",
        "size": 5,
        "sha256": _sha(b"plain"),
    }


async def test_a_path_is_streamed_in_chunks(tmp_path: Path) -> None:
    """A 1 MiB file named by path leaves in 64 KiB pieces, never as one 1 MiB read."""
    data = bytes(range(256)) * 4096 + b"tail"
    path = tmp_path / "report.csv"
    path.write_bytes(data)
    transport = RecordingTransport()
    await _client(transport).events.trigger_for_app("hubspot", event="e", files={"report": path})
    headers, _, sizes = transport.requests[0]
    assert max(sizes) <= CHUNK
    assert sum(sizes) == int(headers["content-length"])
    upload = transport.form()["payload"]["report"]
    assert upload["filename"] == "report.csv"
    assert upload["content_type"] == "text/csv"
    assert upload["sha256"] == _sha(data)


async def test_a_file_object_is_read_in_chunks_not_whole() -> None:
    """httpx asks a file object for 64 KiB at a time, never for everything at once."""
    data = b"x" * (3 * CHUNK + 7)
    source = ReadRecorder(data)
    transport = RecordingTransport()
    await _client(transport).events.trigger(event="e", files={"blob": source})
    assert source.reads
    assert all(0 < size <= CHUNK for size in source.reads)
    assert transport.form()["payload"]["blob"]["size"] == len(data)


@pytest.mark.parametrize(
    ("make", "retried"),
    [
        pytest.param(lambda p: p, True, id="path"),
        pytest.param(lambda p: p.read_bytes(), True, id="bytes"),
        pytest.param(lambda p: ReadRecorder(p.read_bytes()), True, id="seekable-file"),
    ],
)
async def test_rate_limited_uploads_are_resent_whole(
    tmp_path: Path, make: Callable[[Path], Any], retried: bool
) -> None:
    """After a 429, a path, bytes or a seekable file is sent again from its first byte."""
    data = b"0123456789" * 10_000
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    transport = RecordingTransport(
        httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(200, json={})
    )
    await _client(transport).events.trigger(event="e", files={"data": make(path)})
    assert len(transport.requests) == 2
    assert [transport.form(i)["payload"]["data"]["sha256"] for i in (0, 1)] == [_sha(data)] * 2


async def test_a_file_that_cannot_seek_is_not_retried() -> None:
    """A one-shot stream is sent once: the 429 is raised, saying why it was not retried."""
    transport = RecordingTransport(
        httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(200, json={})
    )
    stream = ReadRecorder(b"once only", seekable=False)
    with pytest.raises(
        RateLimitError, match="not retried: an upload is a file object that cannot seek"
    ):
        await _client(transport).events.trigger(event="e", files={"log": stream})
    assert len(transport.requests) == 1


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        pytest.param([("a", b"x")], TypeError, "files must be a mapping", id="not-a-mapping"),
        pytest.param({1: b"x"}, TypeError, "files keys must be str", id="key-not-str"),
        pytest.param(
            {"a": "report.csv"}, TypeError, r"is a str, which could be a path", id="str-content"
        ),
        pytest.param(
            {"a": 3}, TypeError, "must be bytes, a pathlib.Path or a binary file", id="int"
        ),
        pytest.param({"a": io.StringIO("x")}, TypeError, "opened in text mode", id="text-file"),
        pytest.param(
            {"a": ("n", b"x", "c", "d")}, TypeError, r"\(filename, content\)", id="long-tuple"
        ),
        pytest.param({"a": (3, b"x")}, TypeError, "the filename must be a str", id="filename-int"),
        pytest.param(
            {"a": ("n", b"x", "no type")},
            InvalidArgumentError,
            "is not a media type",
            id="bad-type",
        ),
        pytest.param(
            {"": b"x"}, InvalidArgumentError, "not a usable form field name", id="empty-name"
        ),
        pytest.param(
            {'a"b': b"x"}, InvalidArgumentError, "not a usable form field name", id="quote"
        ),
        pytest.param(
            {"event": b"x"}, InvalidArgumentError, "would clash with the form field", id="clash"
        ),
        pytest.param(
            {"a": Path("/no/such/file")}, InvalidArgumentError, "is not a file", id="missing-path"
        ),
    ],
)
async def test_bad_files_fail_before_sending(
    files: object, error: type[Exception], message: str
) -> None:
    """Every misuse of `files=` raises a typed error naming the problem, and sends nothing."""
    transport = RecordingTransport()
    with pytest.raises(error, match=message):
        await _client(transport).events.trigger(event="e", files=files)  # type: ignore[arg-type]
    assert transport.requests == []


async def test_a_closed_file_fails_before_sending() -> None:
    """A closed file object is refused up front."""
    closed = io.BytesIO(b"x")
    closed.close()
    transport = RecordingTransport()
    with pytest.raises(InvalidArgumentError, match="is a closed file"):
        await _client(transport).events.trigger(event="e", files={"a": closed})
    assert transport.requests == []


def test_operations_without_multipart_take_no_files() -> None:
    """An operation whose body is JSON only refuses files."""
    op: Operation[Any] = Operation(
        id="x", method="POST", path="/x", auth=AuthScope.NONE, has_body=True
    )
    with pytest.raises(InvalidArgumentError, match="takes no files"):
        build_request(op, path={}, query={}, headers={}, body={}, options={}, files={"a": b"x"})


def test_only_the_trigger_operations_take_files() -> None:
    """The registry marks exactly the two spec operations with multipart bodies."""
    assert sorted(op.id for op in OPERATIONS.values() if op.multipart) == [
        "triggerEvent",
        "triggerEventBySlug",
    ]
    assert Router(OPERATIONS.values()).match("POST", "/api/v2/public/event/trigger")[0].multipart


async def test_raw_responses_carry_uploads_too() -> None:
    """`with_raw_response.trigger(files=...)` sends the same form and answers its response."""
    transport = RecordingTransport()
    raw = await _client(transport).events.with_raw_response.trigger(event="e", files={"a": b"x"})
    assert raw.status_code == 200
    assert transport.form()["payload"]["a"]["size"] == 1
