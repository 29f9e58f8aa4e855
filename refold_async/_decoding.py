"""Content decoding in bounded steps: every encoding a response may declare.

A `Content-Encoding` header names a chain (`gzip, br` was gzipped, then brotli'd); it is
undone in reverse order, one `Decoder` per stage. Each stage is fed bounded input and
produces at most `STEP` bytes per step, so a few bytes of a decompression bomb never
become more than a step in memory, whatever the chain, and the caller can count the
decoded bytes, and give the event loop a turn, between steps.

gzip, deflate (zlib-wrapped or raw) and identity are always decoded; brotli when the
`brotli` or `brotlicffi` module is installed (a version whose decompressor takes an
output limit), zstd when `compression.zstd` (Python 3.14), `backports.zstd` or
`zstandard` is. `accepted()` lists what this installation decodes; any other encoding
is refused by `chain()` (`UnsupportedEncoding`), never handed to a decoder that would
inflate a whole read at once. The optional modules are imported when first needed
(brotli when the first request asks what is accepted, zstd at the first zstd body):
importing the SDK costs nothing more for them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["STEP", "DecodeFailed", "Decoder", "UnsupportedEncoding", "accepted", "chain"]

STEP = 256 * 1024  # the most bytes one step of one stage may produce or take in


class UnsupportedEncoding(ValueError):
    """The response names an encoding this installation does not decode."""


class DecodeFailed(ValueError):
    """The body is not in the encoding it declares."""


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, in pieces of at most `STEP` bytes."""
        ...


def _slices(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), STEP):
        yield view[start : start + STEP]


class Identity:
    """No encoding: the input, in pieces of at most `STEP` bytes."""

    def feed(self, data: bytes) -> Iterator[bytes]:
        if len(data) <= STEP:
            if data:
                yield data
            return
        for piece in _slices(data):
            yield bytes(piece)


class Inflater:
    """gzip or deflate decoding that never produces more than `STEP` bytes at once."""

    def __init__(self, *, gzip: bool) -> None:
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._may_be_raw = not gzip  # "deflate" is zlib-wrapped or, from some servers, raw
        self._has_more = False  # the last step stopped at `STEP`: output may be pending

    def feed(self, data: bytes) -> Iterator[bytes]:
        if len(data) <= STEP:
            yield from self._feed(data)
            return
        for piece in _slices(data):  # bounded input too: a long gzip comment is no stall
            yield from self._feed(piece)

    def _feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        while data or self._has_more:
            try:
                out = self._zlib.decompress(data, STEP)
            except zlib.error as exc:
                if not self._may_be_raw:
                    raise DecodeFailed(str(exc)) from None
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._may_be_raw = False
                continue
            self._may_be_raw = False
            self._has_more = len(out) == STEP and not self._zlib.eof
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if self._zlib.eof:
                return


@functools.cache
def _brotli() -> Any:
    """A brotli module whose decompressor takes an output limit, or None."""
    for name in ("brotli", "brotlicffi"):
        try:
            module = importlib.import_module(name)
            probe = module.Decompressor()
            probe.process(b"", output_buffer_limit=STEP)
            probe.can_accept_more_data()
        except Exception:  # absent, or too old to bound its output  # noqa: S112
            continue
        return module
    return None


# The decompressor stops growing its buffer once past the limit, and grows it by up to
# ~0.9 x at a time: half a step keeps one output under `STEP`.
_BROTLI_LIMIT = STEP // 2


class Unbrotli:
    """brotli decoding, at most `STEP` bytes per step (the decompressor's output limit)."""

    def __init__(self, module: Any) -> None:
        self._brotli = module.Decompressor()
        self._error: type[Exception] = getattr(module, "error", Exception)

    def feed(self, data: bytes) -> Iterator[bytes]:
        for piece in _slices(data):
            yield from self._feed(bytes(piece))

    def _feed(self, data: bytes) -> Iterator[bytes]:
        brotli = self._brotli
        while True:
            try:
                out: bytes = brotli.process(data, output_buffer_limit=_BROTLI_LIMIT)
            except self._error as exc:
                raise DecodeFailed(f"brotli: {exc}") from None
            data = b""  # taken in; until it can accept more, only empty input may follow
            if out:
                yield out
            if brotli.is_finished() or (not out and brotli.can_accept_more_data()):
                return  # all output given (accepting input does not mean none is pending)


@functools.cache
def _zstd_bounded() -> Any:
    """A zstd module with `ZstdDecompressor.decompress(data, max_length)`, or None."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


@functools.cache
def _zstandard() -> Any:
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


class Unzstd:
    """zstd decoding (`compression.zstd` API), at most `STEP` bytes per step, frame after frame."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._zstd = module.ZstdDecompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        for piece in _slices(data):
            yield from self._feed(bytes(piece))

    def _feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            zstd = self._zstd
            try:
                out: bytes = zstd.decompress(data, STEP)
            except self._module.ZstdError as exc:
                raise DecodeFailed(f"zstd: {exc}") from None
            data = b""
            if out:
                yield out
            if zstd.eof:
                rest: bytes = zstd.unused_data
                if not rest:
                    return
                self._zstd = self._module.ZstdDecompressor()  # the next frame
                data = rest
            elif zstd.needs_input:
                return


class UnzstdSliced:
    """zstd decoding with `zstandard`, whose streaming decompressor takes no output limit.

    A zstd block is at least 4 bytes and decodes to at most 128 KiB, so input fed
    `_ZSTD_FEED` bytes at a time never produces more than `STEP` at once. Slower than a
    decompressor with a limit (`compression.zstd`, `backports.zstd`), which is preferred.
    """

    _ZSTD_FEED = 4

    def __init__(self, module: Any) -> None:
        self._module = module
        self._zstd = self._new()

    def _new(self) -> Any:
        return self._module.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> Iterator[bytes]:
        size = self._ZSTD_FEED
        view = memoryview(data)
        for start in range(0, len(view), size):
            piece = view[start : start + size]
            while piece:
                try:
                    out: bytes = self._zstd.decompress(piece)
                except self._module.ZstdError as exc:
                    raise DecodeFailed(f"zstd: {exc}") from None
                if out:
                    yield out
                piece = memoryview(b"")
                if self._zstd.eof:  # a frame ended: the rest of the piece starts another
                    rest: bytes = self._zstd.unused_data
                    self._zstd = self._new()
                    piece = memoryview(rest)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing (`compression` before 3.14)
        return False


@functools.cache
def accepted() -> tuple[str, ...]:
    """The encodings this installation decodes, for `Accept-Encoding`."""
    zstd = any(map(_installed, ("compression.zstd", "backports.zstd", "zstandard")))
    return (
        "gzip",
        "deflate",
        *(("br",) if _brotli() is not None else ()),
        *(("zstd",) if zstd else ()),
    )


def _stage(name: str) -> Decoder:
    if name in ("gzip", "x-gzip"):
        return Inflater(gzip=True)
    if name == "deflate":
        return Inflater(gzip=False)
    if name == "identity":
        return Identity()
    if name == "br" and (brotli := _brotli()) is not None:
        return Unbrotli(brotli)
    if name == "zstd":
        if (bounded := _zstd_bounded()) is not None:
            return Unzstd(bounded)
        if (zstandard := _zstandard()) is not None:
            return UnzstdSliced(zstandard)
    raise UnsupportedEncoding(name)


class Chain:
    """The stages of a `Content-Encoding`, undone last first, each bounded."""

    def __init__(self, stages: list[Decoder]) -> None:
        self._stages = stages

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._stages):
            yield data
            return
        for piece in self._stages[index].feed(data):
            yield from self._through(index + 1, piece)


def chain(content_encoding: str) -> Decoder | None:
    """The decoder for a `Content-Encoding` value; None when there is nothing to decode.

    Raises:
        UnsupportedEncoding: A stage names an encoding this installation does not decode.
    """
    names = [name.strip().lower() for name in content_encoding.split(",")]
    stages = [_stage(name) for name in reversed(names) if name not in ("", "identity")]
    if not stages:
        return None
    if len(stages) == 1:
        return stages[0]
    return Chain(stages)
