"""File uploads (`files=`) for operations that take `multipart/form-data` bodies.

Two steps, so that bad input fails before anything is sent and files are open only
while a request is on the wire:

- `check_uploads()` (at build time, no reading): each value must be bytes, a path to a
  regular file, or a file object opened in binary mode, alone or as `(filename, content)`
  / `(filename, content, content_type)`; a `str` is refused as ambiguous (a path or the
  content?). Wrong types raise `TypeError`, impossible values `InvalidArgumentError`.
- `opened_uploads()` (per attempt, in the transport): paths are opened then and closed
  after the attempt; httpx streams every file in 64 KiB reads (its multipart encoder),
  so neither a path nor a file object is read whole into memory.

Resending: httpx sends a file object from its first byte (it seeks to 0 when it can), so
a retry of a seekable file object, of a path or of bytes sends the same body again. A
file object that cannot seek (a pipe, a socket) can be sent once only: `resendable` is
then False and the transport does not retry the call (docs/architecture.md §5: POST is retried only
where it is always safe, and even then only if the body can be replayed).
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import re
from collections.abc import Collection, Generator, Mapping
from pathlib import Path
from typing import IO, Any, cast

import attrs

from ._errors import InvalidArgumentError

__all__ = ["FilePart", "check_uploads", "opened_uploads", "resendable"]

_OCTET_STREAM = "application/octet-stream"
# Names and file names go into a Content-Disposition header: no control characters or quotes.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"]')
_CONTENT_TYPE = re.compile(
    r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*;[^\x00-\x1f\x7f]*)?"
)

HttpxFile = tuple[str | None, bytes | IO[bytes], str]


@attrs.frozen
class FilePart:
    """One checked upload.

    Attributes:
        field: The form field name.
        filename: The file name sent with it.
        content: The bytes, the path to open at send time, or the caller's file object.
        content_type: Its media type.
        resendable: The same content can be sent again (bytes, a path, a seekable file).
    """

    field: str
    filename: str
    content: bytes | Path | IO[bytes] = attrs.field(repr=False)
    content_type: str
    resendable: bool


def check_uploads(
    where: str, files: object, *, form_fields: Collection[str] = ()
) -> tuple[FilePart, ...]:
    """Check the `files=` argument of `where`; nothing is read or opened yet."""
    if not isinstance(files, Mapping):
        raise TypeError(
            f"{where}: files must be a mapping of form field name to file, got {type(files).__name__}"
        )
    parts: list[FilePart] = []
    for field, value in cast("Mapping[object, object]", files).items():
        if not isinstance(field, str):
            raise TypeError(f"{where}: files keys must be str, got {type(field).__name__}")
        if not field or _UNSAFE.search(field):
            raise InvalidArgumentError(
                f"{where}: {field!r} is not a usable form field name (empty, or with a quote or control character)"
            )
        if field in form_fields:
            raise InvalidArgumentError(
                f"{where}: files[{field!r}] would clash with the form field {field!r}; name the file otherwise"
            )
        parts.append(_part(f"{where}: files[{field!r}]", field, value))
    return tuple(parts)


def _part(label: str, field: str, value: object) -> FilePart:
    filename: object = None
    content_type: object = None
    content = value
    if isinstance(value, tuple):
        items = cast("tuple[object, ...]", value)
        if len(items) not in (2, 3):
            raise TypeError(
                f"{label} must be content, (filename, content) or (filename, content, content_type)"
            )
        filename, content = items[0], items[1]
        content_type = items[2] if len(items) == 3 else None
    body, default_name, resend = _content(label, content)
    name = _text(label, "filename", filename) if filename is not None else default_name or field
    media = (
        _text(label, "content_type", content_type)
        if content_type is not None
        else mimetypes.guess_type(name)[0] or _OCTET_STREAM
    )
    if content_type is not None and not _CONTENT_TYPE.fullmatch(media):
        raise InvalidArgumentError(f"{label}: {media!r} is not a media type like 'text/csv'")
    return FilePart(field, name, body, media, resend)


def _text(label: str, what: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{label}: the {what} must be a str, got {type(value).__name__}")
    if not value or _UNSAFE.search(value):
        raise InvalidArgumentError(
            f"{label}: the {what} may not be empty or hold a quote or control character"
        )
    return value


def _content(label: str, content: object) -> tuple[bytes | Path | IO[bytes], str | None, bool]:
    """The content to send, a default file name, and whether it can be sent again."""
    if isinstance(content, bytes | bytearray):
        return bytes(content), None, True
    if isinstance(content, memoryview):
        return cast("memoryview[int]", content).tobytes(), None, True
    if isinstance(content, str):
        raise TypeError(
            f"{label} is a str, which could be a path or the content: pass pathlib.Path(...) "
            "for a file, or bytes (text.encode()) for the content"
        )
    if isinstance(content, os.PathLike):
        path = Path(os.fspath(cast("os.PathLike[str]", content)))
        if not path.is_file():
            raise InvalidArgumentError(f"{label}: {str(path)!r} is not a file")
        return path, path.name, True
    if isinstance(content, io.TextIOBase):
        raise TypeError(f"{label} is a file opened in text mode: open it with 'rb'")
    if callable(getattr(content, "read", None)):
        if getattr(content, "closed", False) is True:
            raise InvalidArgumentError(f"{label} is a closed file")
        name = getattr(content, "name", None)
        default = os.path.basename(name) if isinstance(name, str) and name else None
        return cast("IO[bytes]", content), default, _seekable(content)
    raise TypeError(
        f"{label} must be bytes, a pathlib.Path or a binary file object, got {type(content).__name__}"
    )


def _seekable(file: object) -> bool:
    try:
        return bool(cast("Any", file).seekable())
    except (AttributeError, OSError, ValueError):
        return False


def resendable(parts: tuple[FilePart, ...]) -> bool:
    """Whether every upload can be sent again on a retry."""
    return all(part.resendable for part in parts)


@contextlib.contextmanager
def opened_uploads(
    parts: tuple[FilePart, ...],
) -> Generator[list[tuple[str, HttpxFile]], None, None]:
    """httpx's `files=` for one attempt: paths opened now, closed when the attempt ends."""
    with contextlib.ExitStack() as stack:
        files: list[tuple[str, HttpxFile]] = []
        for part in parts:
            content = part.content
            if isinstance(content, Path):
                try:
                    content = stack.enter_context(content.open("rb"))
                except OSError as exc:
                    raise InvalidArgumentError(
                        f"files[{part.field!r}]: cannot open {str(content)!r}: {exc.strerror or exc}"
                    ) from None
            files.append((part.field, (part.filename, content, part.content_type)))
        yield files
