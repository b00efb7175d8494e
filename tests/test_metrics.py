"""The operations endpoints: what /metrics counts (worker/telemetry.py) and reads from
the state (worker/web/metrics.py), and the listener of `serve` and the team's workers
(worker/operations.py), fetched over a real socket on loopback."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from providers import observe
from tests.emulators.graph import GraphEmulator
from tests.test_cli import run
from tests.test_cli_outlook import config as outlook_config
from tests.test_cli_outlook import connect, emu, home
from worker import config as cfg
from worker import operations, telemetry
from worker.errors import ConfigError, ReconnectNeeded, UsageError, WorkerError
from worker.runner import AccountResult
from worker.state import State
from worker.stores import Run
from worker.web import metrics

__all__ = ["emu", "home"]  # fixtures, imported for pytest

UNREACHABLE = "postgresql://127.0.0.1:9/x"  # nothing listens on the discard port


def account(name: str, provider: str = "local") -> cfg.Account:
    return cfg.Account(name, provider)


def setup(tmp: Path, *names: str) -> cfg.Config:
    accounts = tuple(account(n) for n in names)
    return dataclasses.replace(cfg.default_config(), accounts=accounts, state_dir=tmp / "state")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels; parsing it also checks the format."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


# -- what the process counts


def test_cycles_are_counted_by_outcome_and_timed_unless_busy() -> None:
    counts = telemetry.Telemetry()
    counts.cycle(AccountResult(account("a")), 0.2)
    reconnect = ReconnectNeeded("account b: reconnect this account (revoked)")
    counts.cycle(AccountResult(account("b"), errors=[reconnect]), 3.0)
    counts.cycle(AccountResult(account("c"), errors=[WorkerError("account c: broken")]), 0.01)
    counts.cycle(AccountResult(account("d"), busy=True), 99.0)
    counts.skipped()
    counts.failed(400.0)
    s = counts.snapshot()
    assert s.cycles == {"ok": 1, "error": 2, "reconnect": 1, "busy": 2}
    assert s.count == 4 and s.seconds == pytest.approx(403.21)  # busy cycles are not timed
    by_bound = dict(zip(telemetry.BUCKETS, s.buckets, strict=True))
    assert by_bound[0.05] == 1 and by_bound[0.25] == 2 and by_bound[5.0] == 3
    assert by_bound[300.0] == 3  # the 400 s one is only in +Inf (the count)


def test_provider_requests_reach_the_installed_counter() -> None:
    counts = telemetry.Telemetry()
    observe.install(counts.request)
    try:
        observe.answered("google", 200)
        observe.answered("google", 429)
        observe.answered("outlook", None)  # no answer at all
        observe.answered("google", 200)
    finally:
        telemetry.install()
    assert counts.snapshot().requests == {
        ("google", "200"): 2,
        ("google", "429"): 1,
        ("outlook", "error"): 1,
    }


def test_graph_requests_are_counted_as_graph_saw_them(
    home: Path,
    emu: GraphEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real cycle on the Graph emulator, with one request throttled: every request
    and its status, as Graph answered it (sign-in is not counted, nor batch parts)."""
    path = outlook_config(home, emu)
    assert connect(capsys, monkeypatch, path, emu)[0] == 0
    emu.fail_next("429", retry_after=0.01, path_contains="calendarView")
    counts = telemetry.Telemetry()
    observe.install(counts.request)
    emu.requests.clear()
    try:
        code, _, err = run(capsys, "run", "--config", path, "--now", "2026-11-30T07:00:00-08:00")
    finally:
        telemetry.install()
    assert (code, err) == (0, "")
    graph = Counter(
        ("outlook", str(r.status))
        for r in emu.requests
        if r.path.startswith("/v1.0/") and not r.batch_part
    )
    assert graph[("outlook", "429")] == 1 and graph[("outlook", "200")] > 1
    assert counts.snapshot().requests == dict(graph)


# -- what /metrics says


def test_metrics_hold_every_family_from_the_state_and_the_process(tmp_path: Path) -> None:
    config = setup(tmp_path, "ana", "bo", "cy")
    state = State(config.state_location())
    at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    try:
        state.runs.log(Run("ana", at, at, True, held=7))
        state.runs.log(Run("ana", at, at, True, held=4))  # the last run's figure counts
        state.runs.log(Run("ana", at, at, True))  # no hold step: the figure stays
        state.runs.log(Run("bo", at, at, False, error="account bo: reconnect this account (x)"))
        state.runs.log(Run("cy", at, at, False, error="account cy: the calendar is unreadable"))
    finally:
        state.close()
    counts = telemetry.Telemetry()
    counts.cycle(AccountResult(account("ana")), 0.3)
    counts.request("outlook", "429")
    counts.request("outlook", "200")
    body, kind = metrics.scrape(config, counts)
    text = body.decode()
    assert kind.startswith("text/plain")
    assert value(text, "firstblock_accounts", provider="local") == 3
    assert value(text, "firstblock_accounts_failing") == 2
    assert value(text, "firstblock_accounts_needing_reconnect") == 1
    assert value(text, "firstblock_open_gaps") == 0
    assert value(text, "firstblock_state_up") == 1
    assert value(text, "firstblock_cycles_total", outcome="ok") == 1
    assert value(text, "firstblock_cycles_total", outcome="busy") == 0  # every outcome shows
    assert value(text, "firstblock_cycle_seconds_bucket", le="0.25") == 0
    assert value(text, "firstblock_cycle_seconds_bucket", le="0.5") == 1
    assert value(text, "firstblock_cycle_seconds_bucket", le="+Inf") == 1
    assert value(text, "firstblock_cycle_seconds_count") == 1
    assert value(text, "firstblock_api_requests_total", provider="outlook", status="429") == 1
    assert value(text, "firstblock_held_messages") == 4
    assert "ana" not in text  # no account is named


def test_without_the_state_metrics_say_so_and_keep_the_processs_counts() -> None:
    pytest.importorskip("psycopg")
    config = dataclasses.replace(cfg.default_config(), state_url=UNREACHABLE)
    counts = telemetry.Telemetry()
    counts.cycle(AccountResult(account("a")), 0.1)
    for given in (config, None):
        text = metrics.scrape(given, counts)[0].decode()
        assert value(text, "firstblock_state_up") == 0
        assert value(text, "firstblock_cycles_total", outcome="ok") == 1
        assert ("firstblock_open_gaps", ()) not in samples(text)


# -- the listener of serve and the team's workers


def test_the_listener_serves_health_readiness_and_metrics(tmp_path: Path) -> None:
    config = setup(tmp_path, "ana")
    listener = operations.start("127.0.0.1:0", lambda: config)
    try:
        assert listener.port > 0 and listener.url == f"http://127.0.0.1:{listener.port}/"
        assert get(listener.url + "healthz")[::2] == (200, "ok\n")
        assert get(listener.url + "readyz")[::2] == (200, "ready\n")
        status, kind, text = get(listener.url + "metrics")
        assert status == 200 and kind.startswith("text/plain")
        assert value(text, "firstblock_accounts", provider="local") == 1
        assert ("firstblock_cycles_total", (("outcome", "ok"),)) in samples(text)
        assert get(listener.url + "a/ana")[0] == 404  # nothing else is served
    finally:
        listener.close()


def test_not_ready_when_the_state_store_is_out_of_reach() -> None:
    pytest.importorskip("psycopg")
    config = dataclasses.replace(cfg.default_config(), state_url=UNREACHABLE)
    listener = operations.start("127.0.0.1:0", lambda: config)
    try:
        status, _, text = get(listener.url + "readyz")
        assert status == 503 and text.startswith("not ready: state database")
        assert "\n" not in text.rstrip("\n")  # one line
        assert get(listener.url + "healthz")[0] == 200  # alive all the same
        status, _, text = get(listener.url + "metrics")
        assert status == 200 and value(text, "firstblock_state_up") == 0
    finally:
        listener.close()


def test_a_config_that_cannot_be_read_is_not_ready() -> None:
    def broken() -> cfg.Config:
        raise ConfigError("firstblock.toml: workday.end: not after start")

    listener = operations.start("127.0.0.1:0", broken)
    try:
        status, _, text = get(listener.url + "readyz")
        assert status == 503 and "workday.end" in text
        assert value(get(listener.url + "metrics")[2], "firstblock_state_up") == 0
    finally:
        listener.close()


@pytest.mark.parametrize("listen", ["9421", "localhost", ":9421", "127.0.0.1:http", "h:70000"])
def test_a_bad_address_is_one_line(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"^serve\.metrics_listen: expected HOST:PORT"):
        operations.start(listen, cfg.default_config)
    with pytest.raises(UsageError, match=r"^--metrics-listen: expected HOST:PORT"):
        operations.start(listen, cfg.default_config, "--metrics-listen")


def test_an_address_in_use_is_one_line() -> None:
    first = operations.start("127.0.0.1:0", cfg.default_config)
    try:
        with pytest.raises(WorkerError, match=r"^serve\.metrics_listen: cannot listen on"):
            operations.start(f"127.0.0.1:{first.port}", cfg.default_config)
    finally:
        first.close()


# -- the setting


def parse(text: str) -> cfg.Config:
    import tomllib

    return cfg.parse(tomllib.loads(text))


def test_the_listener_is_off_unless_the_config_or_the_environment_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FIRSTBLOCK_METRICS_LISTEN", raising=False)
    assert parse("").serve.metrics_listen == ""
    assert cfg.default_config().serve.metrics_listen == ""
    on = '[serve]\nmetrics_listen = "127.0.0.1:9421"\n'
    assert parse(on).serve.metrics_listen == "127.0.0.1:9421"
    monkeypatch.setenv("FIRSTBLOCK_METRICS_LISTEN", "0.0.0.0:9421")  # as in the container
    assert parse("").serve.metrics_listen == "0.0.0.0:9421"
    assert parse(on).serve.metrics_listen == "127.0.0.1:9421"  # the file wins
    assert parse('[serve]\nmetrics_listen = "[::1]:9421"\n').serve.metrics_listen == "[::1]:9421"


def test_a_bad_setting_is_one_line_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FIRSTBLOCK_METRICS_LISTEN", raising=False)
    with pytest.raises(ConfigError, match=r"serve\.metrics_listen: expected HOST:PORT.*'9421'"):
        parse('[serve]\nmetrics_listen = "9421"\n')
    with pytest.raises(ConfigError, match=r"serve\.metrics_listen: expected a string"):
        parse("[serve]\nmetrics_listen = 9421\n")
    monkeypatch.setenv("FIRSTBLOCK_METRICS_LISTEN", "everywhere")
    with pytest.raises(ConfigError, match=r"^FIRSTBLOCK_METRICS_LISTEN: expected HOST:PORT"):
        parse("")
