"""The `bench_limits` harness's pure parts: nginx's log read right, its config self-contained.

The harness itself needs nginx and runs outside the gate (`nox -s bench_limits`); these
tests load its helpers by path, with no nginx and no socket.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HELPERS = Path(__file__).parents[2] / "benchmarks" / "limits"


def _helpers() -> ModuleType:
    name = "_bench_limits_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, HELPERS / "__init__.py", submodule_search_locations=[str(HELPERS)]
        )
        assert spec is not None
        assert spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return sys.modules[name]


access_log = importlib.import_module(f"{_helpers().__name__}.access_log")
servers = importlib.import_module(f"{_helpers().__name__}.servers")

# A cold start as nginx logs it: six requests in one millisecond (the sixth refused),
# then one 50 ms later, on three connections.
SAMPLE = """\
1764700000.012 0.002 200 7 1
1764700000.013 0.003 200 8 1
1764700000.010 0.000 429 9 1
1764700000.012 0.002 200 9 2

1764700000.011 0.001 200 7 2
1764700000.014 0.004 200 8 2
1764700000.061 0.001 200 7 3
"""


def test_arrival_is_the_log_time_less_the_request_time() -> None:
    """Each entry arrives at `$msec - $request_time`; blank lines are skipped."""
    entries = access_log.parse_lines(SAMPLE.splitlines())
    assert len(entries) == 7
    assert {entry.arrived_ms for entry in entries[:6]} == {1764700000010}
    assert entries[2].status == 429
    assert (entries[6].arrived_ms, entries[6].done_ms) == (1764700000060, 1764700000061)


def test_a_run_is_summarized_from_nginx_lines() -> None:
    """429s, wall, the model's second opinion, the densest second and connections."""
    run = access_log.summarize(access_log.parse_lines(SAMPLE.splitlines()))
    assert run.requests == 7
    assert run.statuses == {200: 6, 429: 1}
    assert run.rate_limited == 1
    assert run.model_refused == 1  # the bucket of 5 refuses the sixth of one instant
    assert run.first_429_after == 0.0
    assert run.wall == 0.051
    assert run.first_arrival == 1764700000.010
    assert run.most_in_one_second == 7
    assert run.connections == 3


def test_an_empty_run_has_no_figures() -> None:
    """No lines: zeros, not an exception."""
    run = access_log.summarize([])
    assert (run.requests, run.rate_limited, run.first_429_after) == (0, 0, None)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("1764700000.012 0.002 200 7", id="a-field-missing"),
        pytest.param("1764700000.012 0.002 OK 7 1", id="not-a-number"),
        pytest.param("1764700000.01 0.002 200 7 1", id="not-milliseconds"),
    ],
)
def test_a_line_in_another_format_is_refused(line: str) -> None:
    """A log in another format is the harness's fault, said as such."""
    with pytest.raises(access_log.LogFormatError):
        access_log.parse_lines([line])


def test_the_nginx_config_is_the_apis_budget_and_stays_in_its_prefix(tmp_path: Path) -> None:
    """20 r/s, burst 4 nodelay per key, 429 past it; every path nginx writes is under prefix."""
    config = servers.nginx_config(tmp_path, listen=18080, upstream=18081)
    for directive in (
        "limit_req_zone $http_x_api_key zone=refold:1m rate=20r/s;",
        "limit_req zone=refold burst=4 nodelay;",
        "limit_req_status 429;",
        "daemon off;",
        "listen 127.0.0.1:18080;",
        "server 127.0.0.1:18081;",
        f"log_format bench '{access_log.LOG_FORMAT}';",
    ):
        assert directive in config
    words = config.replace("location / {", "").split()
    paths = [word.rstrip(";") for word in words if word.startswith("/")]
    assert paths
    assert all(path.startswith(f"{tmp_path}/") for path in paths), paths
    assert "$http_x_api_key" not in access_log.LOG_FORMAT  # the key is never logged
