"""A webhook receiver on the standard library: verify, refuse replays, hand events on.

Refold POSTs each event signed in `x-cobalt-signature` (HMAC-SHA256 of the raw body,
keyed with the environment's API key). This receiver verifies the raw bytes with
`parse_event`, refuses replays with a `ReplayGuard`, and passes the typed event to
`handle_event`; put your own work there (or a queue hand-off: answer fast).

    REFOLD_API_KEY=tk_... python examples/webhook_receiver.py --port 8900

Answers: 200 for an event taken (and for a duplicate: Refold re-delivers until it gets a
2xx, so a repeat is acknowledged, not handled twice), 401 for a bad or missing
signature, 400 for a stale or future-dated event, 500 if handling failed (the guard
forgets the event, so Refold's retry is handled). Against the emulator, register
`http://127.0.0.1:8900/refold/webhook` as a webhook: it delivers there.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from refold_async.webhooks import (
    ConnectionCreated,
    ConnectionExpired,
    ReplayGuard,
    WebhookEvent,
    WebhookReplayError,
    WebhookSignatureError,
    WorkflowErrored,
    parse_event,
)

PATH = "/refold/webhook"
MAX_BODY = 1024 * 1024
log = logging.getLogger("webhook_receiver")


def handle_event(event: WebhookEvent) -> None:
    """Your work for one verified event (here: a log line per kind)."""
    if isinstance(event, ConnectionCreated):
        log.info("account %s connected %s", event.linked_account_id, event.slug or "Refold")
    elif isinstance(event, ConnectionExpired):
        log.warning("account %s must reconnect %s", event.linked_account_id, event.slug)
    elif isinstance(event, WorkflowErrored):
        log.error("run %s of %s failed", event.instance_id, event.workflow_name)
    else:
        log.info("%s for %s", event.type, event.linked_account_id)


class Receiver(BaseHTTPRequestHandler):
    """Verifies and dispatches one POST; configured by `make_server`."""

    api_keys: ClassVar[Sequence[str]] = ()
    guard: ClassVar[ReplayGuard]
    on_event: ClassVar[Callable[[WebhookEvent], None]] = staticmethod(handle_event)

    def do_POST(self) -> None:
        if self.path != PATH:
            self._answer(404)
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(length)
        try:
            event = parse_event(
                body,
                self.headers.get("x-cobalt-signature"),
                api_key=list(self.api_keys),
                replay_guard=self.guard,
            )
        except WebhookReplayError as refused:
            self._answer(200 if refused.reason == "duplicate" else 400)
            return
        except WebhookSignatureError:
            self._answer(401)
            return
        try:
            type(self).on_event(event)
        except Exception:
            self.guard.release(event)  # let Refold's retry of this event through
            log.exception("handling %s failed", event.type)
            self._answer(500)
            return
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet access log
        return


def make_server(
    api_keys: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8900,
    guard: ReplayGuard | None = None,
    on_event: Callable[[WebhookEvent], None] = handle_event,
) -> ThreadingHTTPServer:
    """A threaded HTTP server taking Refold webhooks at `PATH` (call `serve_forever()`)."""
    handler = type(
        "ConfiguredReceiver",
        (Receiver,),
        {
            "api_keys": tuple(api_keys),
            "guard": guard or ReplayGuard(),
            "on_event": staticmethod(on_event),
        },
    )
    return ThreadingHTTPServer((host, port), handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Receive Refold webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args(argv)
    key = os.environ.get("REFOLD_API_KEY")
    if not key:
        sys.stderr.write("set REFOLD_API_KEY: the key Refold signs webhooks with\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    server = make_server([key], host=args.host, port=args.port)
    sys.stdout.write(
        f"receiving Refold webhooks at http://{args.host}:{server.server_port}{PATH}\n"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
