"""The Refold API, from blocking code: a thin face over `refold_async`.

```python
from refold_sync import Refold

with Refold(api_key="tk_...") as client:
    account = client.linked_accounts.retrieve("acct_1")
```

`Refold` has the same options, resources and methods as `refold_async.AsyncRefold`; its
calls run on one event-loop thread that every `Refold` in the process shares. Errors,
options and page types are `refold_async`'s own objects, re-exported here so one import
serves. Models live in `refold_async.models`.
"""

from typing import TYPE_CHECKING

from refold_async import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from refold_async import NOT_GIVEN as NOT_GIVEN
from refold_async import APIConnectionError as APIConnectionError
from refold_async import APIDecodeError as APIDecodeError
from refold_async import APIRedirectError as APIRedirectError
from refold_async import APIResponse as APIResponse
from refold_async import APIResponseTooLargeError as APIResponseTooLargeError
from refold_async import APIStatusError as APIStatusError
from refold_async import APITimeoutError as APITimeoutError
from refold_async import AppInfo as AppInfo
from refold_async import AuthenticationError as AuthenticationError
from refold_async import AuthScope as AuthScope
from refold_async import BadRequestError as BadRequestError
from refold_async import CallOptions as CallOptions
from refold_async import ClientClosedError as ClientClosedError
from refold_async import ClientOptions as ClientOptions
from refold_async import ConflictError as ConflictError
from refold_async import EnvironmentMismatchError as EnvironmentMismatchError
from refold_async import HostRateLimiter as HostRateLimiter
from refold_async import InvalidArgumentError as InvalidArgumentError
from refold_async import LinkedAccountScopeError as LinkedAccountScopeError
from refold_async import LocalRateLimiter as LocalRateLimiter
from refold_async import MissingCredentialError as MissingCredentialError
from refold_async import MissingLinkedAccountError as MissingLinkedAccountError
from refold_async import NotFoundError as NotFoundError
from refold_async import NotGiven as NotGiven
from refold_async import Operation as Operation
from refold_async import Page as Page
from refold_async import Param as Param
from refold_async import PermissionDeniedError as PermissionDeniedError
from refold_async import RateLimit as RateLimit
from refold_async import RateLimiter as RateLimiter
from refold_async import RateLimitError as RateLimitError
from refold_async import RateLimitQueueTimeout as RateLimitQueueTimeout
from refold_async import RefoldError as RefoldError
from refold_async import RefoldUsageError as RefoldUsageError
from refold_async import ResponseInfo as ResponseInfo
from refold_async import RetryPolicy as RetryPolicy
from refold_async import ServerError as ServerError
from refold_async import Shape as Shape
from refold_async import UnknownArgumentError as UnknownArgumentError
from refold_async import UnlimitedRateLimiter as UnlimitedRateLimiter
from refold_async import UnprocessableEntityError as UnprocessableEntityError
from refold_async import UploadContent as UploadContent
from refold_async import UploadFile as UploadFile
from refold_async import Uploads as Uploads
from refold_async import WebhookReplayError as WebhookReplayError
from refold_async import WebhookSignatureError as WebhookSignatureError
from refold_async import set_app_info as set_app_info
from refold_async._lazy import attribute_loader

from ._client import Refold as Refold
from ._resource import SyncPaginator as SyncPaginator

if TYPE_CHECKING:
    from refold_async import BatchInterrupted as BatchInterrupted
    from refold_async import BatchOptions as BatchOptions
    from refold_async import BatchProgress as BatchProgress
    from refold_async import BatchReport as BatchReport
    from refold_async import ItemResult as ItemResult
    from refold_async import ItemState as ItemState
    from refold_async import JournalLockedError as JournalLockedError
    from refold_async import JournalMismatchError as JournalMismatchError
    from refold_async import JournalWriteError as JournalWriteError
    from refold_async import RedisRateLimiter as RedisRateLimiter
    from refold_async import UnknownItem as UnknownItem

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
    "Refold",
    "RefoldError",
    "RefoldUsageError",
    "ResponseInfo",
    "RetryPolicy",
    "ServerError",
    "Shape",
    "SyncPaginator",
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

SyncPaginator.__module__ = __name__

if not TYPE_CHECKING:  # the batch runner loads on first use (import cost)
    __getattr__ = attribute_loader(
        __name__,
        dict.fromkeys(
            (
                "BatchInterrupted",
                "BatchOptions",
                "BatchProgress",
                "BatchReport",
                "ItemResult",
                "ItemState",
                "JournalLockedError",
                "JournalMismatchError",
                "JournalWriteError",
                "RedisRateLimiter",
                "UnknownItem",
            ),
            "refold_async",
        ),
    )
