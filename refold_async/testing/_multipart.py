"""Reading `multipart/form-data` bodies, for the operations that take uploads.

The two event-firing operations accept their body either as JSON or as a form: `event`
and `trigger` as text, `payload` as JSON text, and any other part that carries a file
name is an upload, merged into `payload` under its field name. The emulator keeps what
a test can check about each upload (name, media type, size and SHA-256), not its bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from refold_async._operation import Operation

from ._http import ApiError
from ._validate import decode_json_body

__all__ = ["decode_request_body"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(r';\s*([A-Za-z*]+)="([^"]*)"')
_JSON_FIELDS = frozenset({"payload"})


def _bad(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_MULTIPART")


def decode_request_body(op: Operation[Any], headers: Mapping[str, str], raw: bytes) -> Any:
    """The request body as the handlers see it: JSON, or a form turned into fields.

    JSON bodies are decoded by `decode_json_body` (400 when not JSON); a form is refused with
    415 by operations that take no uploads.
    """
    media = headers.get("content-type", "")
    if not media.lower().startswith("multipart/form-data"):
        return decode_json_body(raw)
    if not op.multipart:
        raise ApiError(415, f"{op.id} takes a JSON body, not a form", "UNSUPPORTED_MEDIA_TYPE")
    found = _BOUNDARY.search(media)
    if found is None:
        raise _bad("the multipart body names no boundary")
    return _fields(_parts(raw, found.group(1).encode("latin-1")))


def _parts(raw: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(Content-Disposition params plus content-type, content) of each part."""
    delimiter = b"--" + boundary
    chunks = raw.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _bad("the multipart body is not closed by its boundary")
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise _bad("a multipart part is not framed by CRLF")
        head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise _bad("a multipart part has no header block")
        info: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                info.update((k.lower(), v) for k, v in _PARAM.findall(value))
            elif name.strip().lower() == "content-type":
                info["content-type"] = value.strip()
        if "name" not in info:
            raise _bad("a multipart part has no field name")
        parts.append((info, content))
    return parts


def _fields(parts: list[tuple[dict[str, str], bytes]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    uploads: dict[str, Any] = {}
    for info, content in parts:
        name = info["name"]
        if "filename" in info:
            uploads[name] = {
                "filename": info["filename"],
                "content_type": info.get("content-type", "application/octet-stream"),
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
            continue
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(f"form field {name!r} is not UTF-8 text") from None
        fields[name] = _json_field(name, text) if name in _JSON_FIELDS else text
    if uploads:
        payload = fields.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise _bad("uploads merge into 'payload', which must then be a JSON object")
        fields["payload"] = {**payload, **uploads}
    return fields


def _json_field(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _bad(f"form field {name!r} must be JSON text") from None
