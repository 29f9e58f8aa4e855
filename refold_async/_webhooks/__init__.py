"""The webhook machinery behind `refold_async.webhooks` (private: import from there).

`_signature` checks `x-cobalt-signature`; `_events` types the events; `_replay` owns the
replay guard and its stores.
"""
