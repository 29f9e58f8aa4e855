"""The Refold API, from async code: asyncio or trio (the client is built on anyio).

```python
from refold_async import AsyncRefold

async with AsyncRefold(api_key="tk_...") as client:
    account = await client.linked_accounts.retrieve("acct_1")
```

The public API is what this module exports; modules whose names start with `_` are
private. Models live in `refold_async.models`, the emulator in `refold_async.testing`.
"""

import typing as _typing

import attrs as _attrs

from ._api_response import APIResponse as APIResponse
from ._api_response import ResponseInfo as ResponseInfo
from ._client import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client import AsyncRefold as AsyncRefold
from ._client import ClientOptions as ClientOptions
from ._errors import APIConnectionError as APIConnectionError
from ._errors import APIDecodeError as APIDecodeError
from ._errors import APIRedirectError as APIRedirectError
from ._errors import APIResponseTooLargeError as APIResponseTooLargeError
from ._errors import APIStatusError as APIStatusError
from ._errors import APITimeoutError as APITimeoutError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import BadRequestError as BadRequestError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import ConflictError as ConflictError
from ._errors import EnvironmentMismatchError as EnvironmentMismatchError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import LinkedAccountScopeError as LinkedAccountScopeError
from ._errors import MissingCredentialError as MissingCredentialError
from ._errors import MissingLinkedAccountError as MissingLinkedAccountError
from ._errors import NotFoundError as NotFoundError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import RateLimitError as RateLimitError
from ._errors import RateLimitQueueTimeout as RateLimitQueueTimeout
from ._errors import RefoldError as RefoldError
from ._errors import RefoldUsageError as RefoldUsageError
from ._errors import ServerError as ServerError
from ._errors import UnknownArgumentError as UnknownArgumentError
from ._errors import UnprocessableEntityError as UnprocessableEntityError
from ._errors import WebhookReplayError as WebhookReplayError
from ._errors import WebhookSignatureError as WebhookSignatureError
from ._lazy import attribute_loader as _attribute_loader
from ._operation import AuthScope as AuthScope
from ._operation import Operation as Operation
from ._operation import Param as Param
from ._operation import Shape as Shape
from ._pagination import AsyncPaginator as AsyncPaginator
from ._pagination import Page as Page
from ._ratelimit import HostRateLimiter as HostRateLimiter
from ._ratelimit import LocalRateLimiter as LocalRateLimiter
from ._ratelimit import RateLimit as RateLimit
from ._ratelimit import RateLimiter as RateLimiter
from ._ratelimit import UnlimitedRateLimiter as UnlimitedRateLimiter
from ._retry import RetryPolicy as RetryPolicy
from ._types import NOT_GIVEN as NOT_GIVEN
from ._types import CallOptions as CallOptions
from ._types import NotGiven as NotGiven
from ._types import UploadContent as UploadContent
from ._types import UploadFile as UploadFile
from ._types import Uploads as Uploads
from ._useragent import AppInfo as AppInfo
from ._useragent import set_app_info as set_app_info

if _typing.TYPE_CHECKING:
    from ._ratelimit import RedisRateLimiter as RedisRateLimiter
    from .batch import BatchInterrupted as BatchInterrupted
    from .batch import BatchOptions as BatchOptions
    from .batch import BatchProgress as BatchProgress
    from .batch import BatchReport as BatchReport
    from .batch import ItemResult as ItemResult
    from .batch import ItemState as ItemState
    from .batch import JournalLockedError as JournalLockedError
    from .batch import JournalMismatchError as JournalMismatchError
    from .batch import JournalWriteError as JournalWriteError
    from .batch import UnknownItem as UnknownItem

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIDecodeError",
    "APIRedirectError",
    "APIResponse",
    "APIResponseTooLargeError",
    "APIStatusError",
    "APITimeoutError",
    "AppInfo",
    "AsyncPaginator",
    "AsyncRefold",
    "AuthScope",
    "AuthenticationError",
    "BadRequestError",
    "BatchInterrupted",
    "BatchOptions",
    "BatchProgress",
    "BatchReport",
    "CallOptions",
    "ClientClosedError",
    "ClientOptions",
    "ConflictError",
    "EnvironmentMismatchError",
    "HostRateLimiter",
    "InvalidArgumentError",
    "ItemResult",
    "ItemState",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalWriteError",
    "LinkedAccountScopeError",
    "LocalRateLimiter",
    "MissingCredentialError",
    "MissingLinkedAccountError",
    "NotFoundError",
    "NotGiven",
    "Operation",
    "Page",
    "Param",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimitQueueTimeout",
    "RateLimiter",
    "RedisRateLimiter",
    "RefoldError",
    "RefoldUsageError",
    "ResponseInfo",
    "RetryPolicy",
    "ServerError",
    "Shape",
    "UnknownArgumentError",
    "UnknownItem",
    "UnlimitedRateLimiter",
    "UnprocessableEntityError",
    "UploadContent",
    "UploadFile",
    "Uploads",
    "WebhookReplayError",
    "WebhookSignatureError",
    "set_app_info",
]


# The batch runner and the Redis limiter load on first use of their names.
_BATCH_NAMES = (
    "BatchInterrupted",
    "BatchOptions",
    "BatchProgress",
    "BatchReport",
    "ItemResult",
    "ItemState",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalWriteError",
    "UnknownItem",
)
if not _typing.TYPE_CHECKING:  # type checkers read the imports above
    __getattr__ = _attribute_loader(
        __name__,
        {**dict.fromkeys(_BATCH_NAMES, ".batch"), "RedisRateLimiter": "._ratelimit"},
    )


def _publish_module() -> None:
    # Tracebacks and reprs name the public module, not the private one.
    # attrs classes keep theirs: their string annotations resolve in that module.
    for name in __all__:
        if name in _BATCH_NAMES or name == "RedisRateLimiter":
            continue  # loaded on first use; they name the public module themselves
        obj = globals()[name]
        if (
            isinstance(obj, type)
            and obj.__module__.startswith(__name__ + "._")
            and not _attrs.has(obj)
        ):
            obj.__module__ = __name__


_publish_module()
