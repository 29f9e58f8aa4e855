"""The one send loop (DESIGN §2). PROVISIONAL signature stub; implemented in issue #2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ._operation import Operation
from ._pagination import AsyncPaginator, Page
from ._types import NOT_GIVEN, CallOptions

T = TypeVar("T")


class Transport:
    async def send(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
    ) -> T:
        raise NotImplementedError

    def paginate(
        self,
        op: Operation[Page[T]],
        *,
        path: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, object] | None = None,
        body: object = NOT_GIVEN,
        options: CallOptions | None = None,
    ) -> AsyncPaginator[T]:
        raise NotImplementedError
