"""The calendar step of one account's run: fetch, plan, diff (decide), then apply
and record (commit); only `run`, `serve` and the team's tasks commit
(docs/design.md §2.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal

from providers.base import CalendarProvider
from providers.errors import Conflict, ProviderError, RateLimited, TransientError
from worker import declines, planner, push, reconcile, settled, zones
from worker.clients import People
from worker.config import Account, Config, Workday
from worker.declines import Decline
from worker.models import Block, BlockKind, Change, Event, Op, Window
from worker.state import State
from worker.stores import Look, Run

CONFLICT_RETRIES = 3  # a block edited while we planned: read again, plan again
DECLINE_ROUNDS = 3  # plans made to find the declines a busy block still covers


@dataclass(frozen=True)
class Outcome:
    account: str
    timezone: str
    plan: planner.Plan
    changes: tuple[Change, ...]
    events: tuple[Event, ...] = ()
    owned: tuple[Block, ...] = ()  # the blocks found on the calendar before any change
    applied: bool = False
    problems: tuple[str, ...] = field(default=())
    fetched: tuple[Block, ...] = ()  # every block read, also outside the planning window
    # Invitations turned down for the rep (worker/declines.py): to send, or once
    # applied, sent.
    declines: tuple[Decline, ...] = ()


def resolve_zone(config: Config, provider: CalendarProvider) -> ZoneInfo:
    """The config's zone, else the calendar's, else this machine's, else UTC. A name may
    be a custom zone's rule (worker.zones)."""
    # Lazily: asking the calendar costs a request when the config already says.
    for source in (lambda: config.timezone, provider.timezone, system_zone):
        name = source()
        if name:
            try:
                return zones.zone(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def system_zone() -> str:
    try:
        return str(tzlocal.get_localzone_name() or "")
    except Exception:
        return ""


def with_calendar_hours(
    config: Config, provider: CalendarProvider
) -> tuple[Config, tuple[str, ...]]:
    """The config, with the calendar's own working hours when [workday] does not say;
    and a warning for each way those hours fell back to the defaults.

    Working hours are a weekly wall-clock rule in their own zone, which need not be the
    calendar's (a mailbox in UTC, its hours 08:00-17:00 Pacific). The days are then
    planned in the hours' zone, as if the config named it: that is the user's real
    working day on every date, DST included. Converting the hours into the calendar's
    zone date by date would give a day across midnight (16:00-01:00 UTC) that moves
    with each DST change, which a workday of one span per day cannot hold. A zone the
    config sets wins: hours given in another zone are then not used, and said so.

    Raises providers.errors.ProviderError."""
    if config.workday_set:
        return config, ()
    hours = provider.working_hours()
    if hours is None:
        return config, ()  # none; a provider whose hours were unusable says why itself
    fallback = "planned with the default workday; set [workday] in the config"
    if not hours.days or hours.end <= hours.start:
        span = f"{hours.start:%H:%M}-{hours.end:%H:%M}"
        return config, (f"the calendar's working hours ({span}) cannot be planned: {fallback}",)
    if hours.zone and config.timezone and not zones.same(hours.zone, config.timezone):
        return config, (
            f"the calendar's working hours are in {hours.zone}, not in the config's timezone"
            f" {config.timezone}: {fallback}, or remove timezone to plan in the hours' zone",
        )
    workday = Workday(hours.days, hours.start, hours.end)
    return replace(config, workday=workday, timezone=config.timezone or hours.zone), ()


def rules_for(config: Config, account: Account, zone: ZoneInfo) -> planner.Rules:
    people = People(account.email, config.internal_domains_for(account), config.followups.ignore)
    return planner.Rules(
        zone, config.workday, config.blocks, config.planning, people, config.followups
    )


@dataclass(frozen=True)
class AccountRun:
    """One account's run: everything its steps need, in one value, instead of long
    lists of parameters. `config` is as it applies to this account (its own settings
    over the team's); `state` is always a store, one that keeps nothing when the run
    has no state of its own."""

    config: Config
    account: Account
    state: State
    now: datetime
    rules: planner.Rules

    @classmethod
    def start(
        cls,
        config: Config,
        account: Account,
        calendar: CalendarProvider,
        state: State,
        now: datetime,
    ) -> AccountRun:
        """Raises providers.errors.ProviderError (asking the calendar for its zone)."""
        zone = resolve_zone(config, calendar)
        return cls(config, account, state, now, rules_for(config, account, zone))

    @property
    def name(self) -> str:
        return self.account.name


@dataclass(frozen=True)
class CalendarDecision:
    """What the calendar step would do: the plan and its changes (in `outcome`, not
    applied), and what the blocks ledger would record (`look`)."""

    outcome: Outcome
    look: Look
    arming: str = ""  # declines to arm (worker/declines.py): record it, and spare `spare`
    spare: tuple[str, ...] = ()


def decide_calendar(run: AccountRun, provider: CalendarProvider) -> CalendarDecision:
    """Read the calendar and plan the horizon; writes nothing anywhere.

    Raises providers.errors.ProviderError; the caller maps it for the user."""
    rules, now = run.rules, run.now
    window = planner.window(rules, now)
    # One read serves the plan, the follow-up check and the week's figures.
    fetched = _fetch_window(run.config, window, now)
    snapshot = provider.fetch(fetched)
    # From today on, as far as was read: a tentative hold can lie past the planning
    # horizon, and must be seen there to be kept, moved or removed (and its deletion
    # by the user noticed).
    reach = (window.start, max(window.end, fetched.end))
    owned = [b for b in snapshot.blocks if b.start < reach[1] and b.end > reach[0]]
    look = run.state.ledger.look(run.name, owned, reach, now)
    turned_down, arming = _invitations(run, provider, snapshot.events, owned)
    spare = tuple(d.event.id for d in turned_down) if arming else ()
    turned_down = [] if arming else turned_down
    events, digest, plan = _planned(run, snapshot.events, owned, look, turned_down, recall=True)
    for attempt in range(DECLINE_ROUNDS):
        # Decline only what a busy block still covers once planned: when a client's
        # invitation moves the block anyway, the colleague's time is free after all.
        covered = declines.covered(turned_down, [*plan.blocks, *plan.kept], rules.policies)
        if len(covered) == len(turned_down):
            break
        # Not settled in DECLINE_ROUNDS plans: decline nothing this cycle.
        turned_down = covered if attempt < DECLINE_ROUNDS - 1 else []
        events, digest, plan = _planned(run, snapshot.events, owned, look, turned_down)
    changes = reconcile.diff(owned, plan, now)
    settled.PLANS.keep(run.name, digest, plan, changed=bool(changes))
    outcome = Outcome(
        run.name,
        rules.zone.key,
        plan,
        tuple(changes),
        tuple(events),
        tuple(owned),
        False,
        snapshot.problems,
        tuple(snapshot.blocks),
        tuple(turned_down),
    )
    return CalendarDecision(outcome, look, arming, spare)


def _planned(
    run: AccountRun,
    found: Sequence[Event],
    owned: Sequence[Block],
    look: Look,
    turned_down: Sequence[Decline],
    *,
    recall: bool = False,
) -> tuple[list[Event], int, planner.Plan]:
    """The plan with `turned_down` declined; `recall`: a settled plan may answer."""
    rules, now = run.rules, run.now
    events = declines.as_declined(found, turned_down, rules.people.me)
    digest = settled.inputs(events, owned, look.tombstones, rules, now)
    plan = settled.PLANS.recall(run.name, digest, owned) if recall else None
    if plan is None:
        plan = planner.plan(events, owned, look.tombstones, rules, now)
    return events, digest, plan


def _invitations(
    run: AccountRun, provider: CalendarProvider, events: Sequence[Event], owned: Sequence[Block]
) -> tuple[list[Decline], str]:
    """The invitations to turn down this cycle, and the settings to arm declines for
    ("" when armed already). Arming (the first cycle under these settings, or after
    state was lost) declines nothing: what waits under a busy block then was there
    before declines were on, and is spared. A state read only when there is any."""
    settings = declines.signature(run.rules.policies)
    if not provider.supports_decline or not settings:
        return [], ""
    found = declines.candidates(events, owned, run.rules.policies, run.rules.people)
    armed = declines.ARMED + settings
    if not run.state.runs.noticed_for_good(run.name, armed):
        return found, armed
    return [d for d in found if not run.state.runs.noticed(run.name, declines.KEY + d.event.id)], ""


def _send_declines(
    run: AccountRun, provider: CalendarProvider, turned_down: Sequence[Decline]
) -> tuple[list[Decline], list[str]]:
    """Answer each invitation once: a failure that may pass is tried again next
    cycle; any other spares the invitation for good (the block then gives way)."""
    sent, problems = [], []
    message = run.config.focus_time.decline_message
    for d in turned_down:
        try:
            provider.decline(d.event, message)
        except (TransientError, RateLimited) as exc:
            problems.append(f"{d.event.title}: not declined yet ({exc})")
            continue
        except ProviderError as exc:
            problems.append(f"{d.event.title}: not declined, and it will not be ({exc})")
        else:
            sent.append(d)
        _answered(run, [d.event.id])
    return sent, problems


def _spare(run: AccountRun, outcome: Outcome, changes: Sequence[Change]) -> None:
    """Invitations under blocks about to be written busy were there first: never
    declined."""
    if not declines.signature(run.rules.policies):
        return
    written = [c.block for c in changes if c.op is not Op.DELETE]
    _answered(run, declines.spared(written, outcome.events, run.rules.people))


def _answered(run: AccountRun, idents: Sequence[str]) -> None:
    """Invitations never to be answered (again): declined, or spared."""
    for ident in idents:
        run.state.runs.notice(run.name, declines.KEY + ident, run.now)


def commit_calendar(
    run: AccountRun, provider: CalendarProvider, decision: CalendarDecision
) -> Outcome:
    """Write the decided changes and record them. A block edited while we planned
    (a Conflict) means: read again, decide again, up to CONFLICT_RETRIES times.

    Raises providers.errors.ProviderError."""
    state, name = run.state, run.name
    sent: list[Decline] = []
    refused: list[str] = []
    tried: set[str] = set()  # answered once per commit: a re-read may lag behind
    if decision.arming:
        _answered(run, decision.spare)
        state.runs.notice(name, decision.arming, run.now)
    for attempt in range(CONFLICT_RETRIES):
        fresh = [d for d in decision.outcome.declines if d.event.id not in tried]
        tried |= {d.event.id for d in fresh}
        answered, failed = _send_declines(run, provider, fresh)
        sent, refused = sent + answered, refused + failed
        state.ledger.commit(name, decision.look, run.now)
        changes = decision.outcome.changes
        if not changes:
            break
        state.ledger.forget(name, [c.block.key for c in changes if c.op is Op.DELETE])
        _spare(run, decision.outcome, changes)  # before: a write may land, then fail
        try:
            applied = provider.apply(changes)
        except Conflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise
            decision = decide_calendar(run, provider)
            continue
        if push.enabled(run.config):
            push.remember_writes(state, name, provider, applied, run.now)
        written = {c.block.key for c in applied}
        # A create the provider skipped met a block the user had deleted (its id
        # stays taken): remembered as known, the next read makes it a tombstone.
        skipped = [c.block for c in changes if c.op is Op.CREATE and c.block.key not in written]
        state.ledger.remember(name, [c.block for c in applied if c.op is not Op.DELETE] + skipped)
        _note_lost(state, name, applied)
        decision = replace(
            decision, outcome=replace(decision.outcome, changes=tuple(applied), applied=True)
        )
        break
    try:
        provider.upkeep()
    except ProviderError as exc:  # tried again next cycle; the plan's writes are done
        refused.append(f"blocks' settings not brought up to date ({exc})")
    outcome = decision.outcome
    outcome = replace(outcome, declines=tuple(sent), problems=(*outcome.problems, *refused))
    _record_days(run, outcome)
    return outcome


def _record_days(run: AccountRun, outcome: Outcome) -> None:
    """Today's planned prospecting, on the day's first cycle; a past day's kept
    minutes, on the first cycle after it (worker/records.py)."""
    plan, zone = outcome.plan, run.rules.zone
    today = run.now.astimezone(zone).date()
    figures = run.state.figures
    if figures.recorded(run.account.name, today):
        return
    # Past days the read saw whole: the lookback, less a day for the window's edge.
    oldest = today - timedelta(days=run.config.followups.lookback_days)
    marks = figures.marks(run.account.name, today, oldest)
    planned = None
    if today in plan.days and not marks.planned_today:
        planned = sum(
            b.minutes
            for b in (*plan.blocks, *plan.kept)
            if b.kind is BlockKind.PROSPECTING and b.day == today
        )
    kept = dict.fromkeys(marks.unkept, 0)
    for b in outcome.fetched:
        day = b.start.astimezone(zone).date()
        if b.kind is BlockKind.PROSPECTING and day in kept:
            kept[day] += b.minutes
    figures.record_days(run.account.name, today, planned, kept, zone.key)


def run_account(run: AccountRun, provider: CalendarProvider, *, apply: bool) -> Outcome:
    """Decide and, with `apply`, commit: the calendar step on its own."""
    decision = decide_calendar(run, provider)
    return commit_calendar(run, provider, decision) if apply else decision.outcome


def _fetch_window(config: Config, plan: Window, now: datetime) -> Window:
    """The planning window, widened for follow-ups (back and ahead) and this week."""
    f = config.followups
    monday = plan.start - timedelta(days=plan.start.weekday())
    start = min(plan.start, monday, now - timedelta(days=f.lookback_days + 1))
    end = max(plan.end, now + timedelta(days=f.lookahead_days + 1))
    # Whole local days: the window then stays put all day, so a calendar file's
    # expansion can be kept between reads (providers/local/cache.py).
    zone = zones.zone(plan.zone)
    first = datetime.combine(start.astimezone(zone).date(), time(), zone)
    last = datetime.combine(end.astimezone(zone).date() + timedelta(days=1), time(), zone)
    return Window(first, last, plan.zone)


def _note_lost(state: State, account: str, applied: Sequence[Change]) -> None:
    """Blocks the worker removed or moved because the calendar changed under them."""
    per_day: dict[tuple[date, str], int] = {}
    for c in applied:
        moved = c.op is Op.UPDATE and c.before is not None and c.before.start != c.block.start
        if c.op is Op.DELETE or moved:
            block = c.before or c.block
            key = (block.day, block.kind.value)
            per_day[key] = per_day.get(key, 0) + 1
    for (day, kind), n in per_day.items():
        state.figures.lost(account, day, kind, n)


def log(
    state: State,
    account: str,
    started: datetime,
    finished: datetime,
    changes: Sequence[Change] = (),
    error: str = "",
    held: int | None = None,
    day: date | None = None,
    released: int = 0,
) -> None:
    def count(op: Op) -> int:
        return sum(1 for c in changes if c.op is op)

    state.runs.log(
        Run(
            account,
            started,
            finished,
            not error,
            count(Op.CREATE),
            count(Op.UPDATE),
            count(Op.DELETE),
            error,
            held,
            day,
            released,
        )
    )


def owned_now(outcome: Outcome) -> list[Block]:
    """The blocks on the calendar once the plan is applied: managed and kept."""
    return sorted([*outcome.plan.blocks, *outcome.plan.kept], key=lambda b: (b.start, b.key))
