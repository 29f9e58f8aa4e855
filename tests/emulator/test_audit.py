"""`audit_send_times`: replaying a send log through the server's bucket."""

from __future__ import annotations

from refold_async.testing import audit_send_times


def test_a_full_burst_then_the_steady_rate_conforms() -> None:
    """5 at once, then one every 50 ms: the server accepts all of it."""
    times = [0.0] * 5 + [0.05 * k for k in range(1, 40)]
    audit = audit_send_times(times)
    assert audit.conforms
    assert audit.requests == 44
    assert audit.most_at_once == 5
    assert audit.most_in_one_second <= 25


def test_a_sixth_at_once_and_an_early_send_are_refused() -> None:
    """The sixth simultaneous send, and one a millisecond early, would draw 429s."""
    audit = audit_send_times([0.0] * 6 + [0.049])
    assert not audit.conforms
    assert audit.refused == (0.0, 0.049)


def test_scaled_budgets_are_honoured() -> None:
    """The budget is a parameter: 200/s with bursts of 5."""
    assert audit_send_times([k / 200 for k in range(400)], per_second=200, burst=5).conforms
    assert len(audit_send_times([0.0] * 10, per_second=200, burst=5).refused) == 5
