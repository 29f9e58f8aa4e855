"""Content decoding (`_decoding`): chains undone in order, every step bounded."""

from __future__ import annotations

import importlib.util
import zlib

import pytest

from refold_async import _decoding as decoding
from refold_async._decoding import STEP, UnsupportedEncoding, chain
from refold_async._payload import MAX_RESPONSE_JSON_DEPTH, too_deep

MiB = 1024 * 1024


def _zlib(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


def _decode(encoding: str, packed: bytes, read: int = 64 * 1024) -> list[bytes]:
    decoder = chain(encoding)
    assert decoder is not None
    return [
        piece
        for start in range(0, len(packed), read)
        for piece in decoder.feed(packed[start : start + read])
    ]


def test_a_chain_is_undone_last_encoding_first() -> None:
    """`deflate, gzip` was deflated, then gzipped: gunzip, then inflate."""
    data = bytes(range(256)) * 4000
    packed = _zlib(_zlib(data, 15), 31)
    assert b"".join(_decode("deflate, gzip", packed)) == data
    assert b"".join(_decode(" GZIP , identity", _zlib(data, 31))) == data


def test_every_stage_of_a_chain_is_bounded() -> None:
    """32 MiB of zeros, gzipped twice, comes out in pieces of at most `STEP`."""
    data = bytes(32 * MiB)
    pieces = _decode("gzip, gzip", _zlib(_zlib(data, 31), 31))
    assert max(map(len, pieces)) <= STEP
    assert sum(map(len, pieces)) == len(data)


def test_identity_alone_needs_no_decoder() -> None:
    assert chain("identity") is None
    assert chain("") is None


@pytest.mark.parametrize("encoding", ["compress", "gzip, compress", "x-unknown", "br2"])
def test_an_encoding_not_decoded_here_is_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        chain(encoding)


def test_accepted_encodings_are_what_is_installed() -> None:
    assert ("br" in decoding.accepted()) == (decoding._brotli() is not None)
    zstd = any(map(decoding._installed, ("compression.zstd", "backports.zstd", "zstandard")))
    assert ("zstd" in decoding.accepted()) == zstd
    assert decoding.accepted()[:2] == ("gzip", "deflate")


@pytest.mark.skipif(decoding._brotli() is None, reason="no brotli module with an output limit")
def test_brotli_is_bounded_and_exact() -> None:
    import brotli  # type: ignore[import-not-found,unused-ignore]

    zeros = bytes(16 * MiB)
    pieces = _decode("br", brotli.compress(zeros, quality=5))
    assert max(map(len, pieces)) <= STEP
    assert b"".join(pieces) == zeros
    text = bytes(range(256)) * 3000
    assert b"".join(_decode("br", brotli.compress(text), read=7)) == text


@pytest.mark.skipif(importlib.util.find_spec("zstandard") is None, reason="no zstandard")
def test_zstandard_is_bounded_and_exact() -> None:
    """`zstandard` has no output limit: fed a few bytes at a time, a step stays bounded."""
    import zstandard  # type: ignore[import-not-found,unused-ignore]

    zeros = bytes(16 * MiB)
    decoder = decoding.UnzstdSliced(zstandard)
    packed = zstandard.ZstdCompressor(level=3).compress(zeros)
    pieces = list(decoder.feed(packed))
    assert max(map(len, pieces)) <= STEP
    assert b"".join(pieces) == zeros
    text = bytes(range(256)) * 3000
    two_frames = zstandard.ZstdCompressor().compress(text) * 2
    assert b"".join(decoding.UnzstdSliced(zstandard).feed(two_frames)) == text * 2


def test_corrupt_input_fails_as_decode_failed() -> None:
    with pytest.raises(decoding.DecodeFailed):
        _decode("gzip", b"not gzip at all")


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        pytest.param(b"[" * 512 + b"]" * 512, False, id="at-the-limit"),
        pytest.param(b"[" * 513 + b"]" * 513, True, id="one-past"),
        pytest.param(b'{"a": "' + b"[" * 2000 + b'"}', False, id="brackets-in-a-string"),
        pytest.param(b'["\\"' + b"[" * 2000 + b'"]', False, id="escaped-quote-in-a-string"),
        pytest.param(b"[" * 100_000, True, id="never-closed"),
        pytest.param(b"[" * 600 + b'"' + b"]" * 600 + b'"', True, id="closers-in-a-string"),
        pytest.param(b"[" + b"[[]]," * 1000 + b"[]]", False, id="wide-not-deep"),
        pytest.param(b"{" + b'"k":{' * 600 + b"1" + b"}" * 601, True, id="objects"),
    ],
)
def test_json_depth_is_checked_before_parsing(body: bytes, deep: bool) -> None:
    assert too_deep(body) is deep
    assert MAX_RESPONSE_JSON_DEPTH == 512


def test_a_decompressor_with_an_output_limit_is_bounded_frame_after_frame() -> None:
    """The `compression.zstd` path (3.14, `backports.zstd`), driven by bz2's decompressor,
    which has the same API (`decompress(data, max_length)`, `eof`, `needs_input`,
    `unused_data`): bounded steps, and a second frame after the first."""
    import bz2
    from types import SimpleNamespace

    module = SimpleNamespace(ZstdDecompressor=bz2.BZ2Decompressor, ZstdError=OSError)
    zeros = bytes(8 * MiB)
    packed = bz2.compress(zeros) + bz2.compress(b"tail")
    decoder = decoding.Unzstd(module)
    pieces = [
        piece for i in range(0, len(packed), 100) for piece in decoder.feed(packed[i : i + 100])
    ]
    assert max(map(len, pieces)) <= STEP
    assert b"".join(pieces) == zeros + b"tail"
    with pytest.raises(decoding.DecodeFailed):
        list(decoding.Unzstd(module).feed(b"BZh9 not bzip2 data at all"))
