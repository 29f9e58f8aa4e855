"""The sync face mirrors the async one: same methods, signatures and docstrings."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from refold_async._operation import Operation
from refold_async.operations import OPERATIONS
from refold_async.resources import AsyncResourceNamespaces
from refold_sync.resources import ResourceNamespaces

CASES = [pytest.param(op, id=op.id) for op in sorted(OPERATIONS.values(), key=lambda o: o.id)]


def _methods(op: Operation[Any]) -> tuple[Any, Any]:
    """The async and sync methods of `op`, reached as a client reaches them."""
    async_face = object.__new__(AsyncResourceNamespaces)
    async_face._transport = None  # type: ignore[assignment]  # never called here
    sync_face = object.__new__(ResourceNamespaces)
    sync_face._async_client = async_face
    async_resource = getattr(async_face, op.resource)
    sync_resource = getattr(sync_face, op.resource)
    return getattr(type(async_resource), op.name), getattr(type(sync_resource), op.name)


@pytest.mark.parametrize("op", CASES)
def test_sync_signature_equals_async(op: Operation[Any]) -> None:
    """Parameters (names, kinds, defaults, annotations) are identical on both faces."""
    async_method, sync_method = _methods(op)
    async_sig, sync_sig = inspect.signature(async_method), inspect.signature(sync_method)
    assert list(async_sig.parameters.values()) == list(sync_sig.parameters.values())
    expected = str(async_sig.return_annotation).replace("AsyncPaginator[", "SyncPaginator[")
    assert sync_sig.return_annotation == expected


@pytest.mark.parametrize("op", CASES)
def test_docstrings_match_and_name_the_route(op: Operation[Any]) -> None:
    """Both faces carry the same docstring, naming the method, path and credentials."""
    async_method, sync_method = _methods(op)
    assert async_method.__doc__ == sync_method.__doc__
    assert f"`{op.method} {op.path}`" in async_method.__doc__
    assert "Auth: " in async_method.__doc__


@pytest.mark.parametrize("op", CASES)
def test_method_kinds(op: Operation[Any]) -> None:
    """Async methods are coroutines except paginated lists; sync methods are plain functions."""
    async_method, sync_method = _methods(op)
    assert inspect.iscoroutinefunction(async_method) is not op.paginated
    assert not inspect.iscoroutinefunction(sync_method)


@pytest.mark.parametrize("op", CASES)
def test_path_parameters_are_positional_and_the_rest_keyword_only(op: Operation[Any]) -> None:
    """Path parameters come first and may be positional; everything else is keyword-only."""
    async_method, _ = _methods(op)
    params = list(inspect.signature(async_method).parameters.values())[1:]
    path = [p.name for p in op.params if p.location == "path"]
    positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == path
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
