"""`/metrics` in Prometheus' text format: what the state says about the accounts,
read when scraped (a registry per scrape: nothing lingers between them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from worker import config as cfg
from worker.state import State


def scrape(config: cfg.Config) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    accounts = Gauge(
        "firstblock_accounts", "Accounts, by provider", ["provider"], registry=registry
    )
    reconnect = Gauge(
        "firstblock_accounts_needing_reconnect",
        "Accounts whose last run ended needing a reconnect",
        registry=registry,
    )
    failing = Gauge(
        "firstblock_accounts_failing",
        "Accounts whose last run ended in an error",
        registry=registry,
    )
    gaps = Gauge(
        "firstblock_open_gaps", "Open follow-up gaps, over all accounts", registry=registry
    )
    for a in config.accounts:
        accounts.labels(a.provider).inc()
    state = State.read_only(config.state_location())
    try:
        for a in config.accounts:
            last = state.runs.last(a.name)
            if last is not None and last.error:
                failing.inc()
                if "reconnect this account" in last.error:
                    reconnect.inc()
            gaps.inc(len(state.gaps.open(a.name)))
    finally:
        state.close()
    return generate_latest(registry), CONTENT_TYPE_LATEST
