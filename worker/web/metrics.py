"""`/metrics` in Prometheus' text format, for `firstblock web`, `serve` and the team's
workers alike (worker/operations.py serves it for the last two).

Two kinds of families (docs in worker/telemetry.py):

- **Read from the state at each scrape** (a registry per scrape: nothing lingers):
  `firstblock_accounts{provider}`, `firstblock_accounts_failing` (last run ended in
  an error), `firstblock_accounts_needing_reconnect`, `firstblock_held_messages` (as
  each account's last run with a hold step left them), `firstblock_open_gaps`, and
  `firstblock_push_accounts{health}` (worker/push.py's health: ok, waiting, failed,
  none, off), `firstblock_state_up` (1 when the state store answered this scrape; 0 and none of
  the others but the accounts when it did not). The same from every process that
  shares the state.
- **Counted by this process** since it started (worker/telemetry.py):
  `firstblock_cycles_total{outcome}` (ok, error, reconnect, busy),
  `firstblock_cycle_seconds` (a histogram) and `firstblock_api_requests_total{provider,
  status}` (status: the HTTP code, or "error" when no answer came). Only processes
  that run cycles count cycles.

No label names an account: a team's thousands of accounts would make thousands of
series, and the listener of `serve` may be reachable beyond this machine.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from worker import config as cfg
from worker import push, telemetry
from worker.clock import SystemClock
from worker.errors import WorkerError
from worker.state import State

# The web app counts the requests its pages send (it imports this module to serve
# /metrics); `serve` and the team's workers install it themselves.
telemetry.install()


class Counted(Collector):
    """This process's counts, read at each collection."""

    def __init__(self, counts: telemetry.Telemetry) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        s = self.counts.snapshot()
        cycles = CounterMetricFamily(
            "firstblock_cycles",
            "Account cycles run by this process, by outcome",
            labels=["outcome"],
        )
        for kind in telemetry.OUTCOMES:
            cycles.add_metric([kind], s.cycles[kind])
        yield cycles
        seconds = HistogramMetricFamily(
            "firstblock_cycle_seconds", "How long this process's account cycles took"
        )
        buckets = [(str(b), float(n)) for b, n in zip(telemetry.BUCKETS, s.buckets, strict=True)]
        seconds.add_metric([], [*buckets, ("+Inf", float(s.count))], s.seconds)
        yield seconds
        requests = CounterMetricFamily(
            "firstblock_api_requests",
            "Requests this process sent to calendar and mail APIs, by provider and status",
            labels=["provider", "status"],
        )
        for (provider, status), n in sorted(s.requests.items()):
            requests.add_metric([provider, status], n)
        yield requests


def scrape(
    config: cfg.Config | None, counts: telemetry.Telemetry = telemetry.TELEMETRY
) -> tuple[bytes, str]:
    """The families, as Prometheus reads them, and their content type. `config` None:
    the config (or the state, to find its accounts) could not be read this time."""
    registry = CollectorRegistry()
    up = Gauge("firstblock_state_up", "1 when the state store answered", registry=registry)
    if config is not None:
        _from_state(config, registry, up)
    registry.register(Counted(counts))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _from_state(config: cfg.Config, registry: CollectorRegistry, up: Gauge) -> None:
    accounts = Gauge(
        "firstblock_accounts", "Accounts, by provider", ["provider"], registry=registry
    )
    for a in config.accounts:
        accounts.labels(a.provider).inc()
    failing, reconnect, held, gaps = 0, 0, 0, 0
    pushed: dict[str, int] = {}
    try:
        state = State.read_only(config.state_location())
        try:
            now = SystemClock().now()
            for a in config.accounts:
                kind = str(push.health(config, state.channels.of(a.name), now)["state"])
                pushed[kind] = pushed.get(kind, 0) + 1
                last = state.runs.last(a.name)
                if last is not None and last.error:
                    failing += 1
                    if "reconnect this account" in last.error:
                        reconnect += 1
                held += state.runs.held(a.name) or 0
                gaps += len(state.gaps.open(a.name))
        finally:
            state.close()
    except WorkerError:
        return  # state_up stays 0, and what the state would say is left out
    up.set(1)
    for name, text, value in (
        (
            "firstblock_accounts_needing_reconnect",
            "Accounts whose last run ended needing a reconnect",
            reconnect,
        ),
        ("firstblock_accounts_failing", "Accounts whose last run ended in an error", failing),
        (
            "firstblock_held_messages",
            "Messages held, as each account's last run with a hold step left them",
            held,
        ),
        ("firstblock_open_gaps", "Open follow-up gaps, over all accounts", gaps),
    ):
        Gauge(name, text, registry=registry).set(value)
    by_health = Gauge(
        "firstblock_push_accounts",
        "Accounts by push health: ok, waiting, failed, none (nothing watched), off",
        ["health"],
        registry=registry,
    )
    for kind, count in pushed.items():
        by_health.labels(kind).set(count)
