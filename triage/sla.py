"""Pure SLA arithmetic: business calendars, business-time sums and per-ticket SLA clocks.

Nothing here reads the clock, touches Flask or the database: every function takes ``now``.
All instants in and out are timezone-aware; results are in UTC. Internally instants and
durations are whole microseconds since the Unix epoch, so sums and round trips are exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = [
    "BusinessCalendar",
    "SlaClock",
    "SlaDue",
    "SlaState",
    "SlaTargets",
    "add_business_seconds",
    "business_seconds_between",
    "consumed",
    "due_times",
    "pause",
    "record_first_response",
    "resolve",
    "resume",
    "retarget",
    "sla_state",
    "sla_states",
    "start_clock",
]

_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
# A calendar with no working instant for this many consecutive days is treated as broken.
MAX_IDLE_DAYS = 3 * 366
_CACHE_LIMIT = 20_000
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = tuple(name[:3] for name in _DAY_NAMES)
_DAY_KEYS = {key: i for i, name in enumerate(_DAY_NAMES) for key in (name, name[:3])}
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")

Interval = tuple[time, time]


def _to_us(dt: datetime, name: str = "datetime") -> int:
    """Return an aware datetime as integer microseconds since the epoch."""
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {dt!r}")
    return (dt - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    """Return the UTC datetime for integer microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _seconds_to_us(seconds: float, name: str) -> int:
    """Return a non-negative number of seconds as whole microseconds."""
    if seconds != seconds or seconds < 0:  # rejects NaN too
        raise ValueError(f"{name} must be a non-negative number of seconds, got {seconds!r}")
    return round(seconds * 1_000_000)


def _time_us(t: time) -> int:
    """Return a wall-clock time as microseconds since local midnight."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _load_zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name or raise ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {name!r}") from None


@dataclass(frozen=True)
class BusinessCalendar:
    """When the SLA clock runs: local working intervals per weekday, minus holidays.

    ``hours`` maps weekday (0 = Monday) to local wall-clock intervals; an interval ending at
    ``time(0, 0)`` or ``time.max`` runs to the end of the day. ``holidays`` are local dates with
    no working time; only the dates given are known, so build calendars for a window of years.
    """

    timezone: str
    hours: Mapping[int, tuple[Interval, ...]]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)
    _cache: dict[date, tuple[tuple[int, int], ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        """Validate the calendar and precompute per-weekday intervals in microseconds."""
        object.__setattr__(self, "_zone", _load_zone(self.timezone))
        hours: dict[int, tuple[Interval, ...]] = {}
        days: list[tuple[tuple[int, int], ...]] = []
        for weekday in self.hours:
            if weekday not in range(7):
                raise ValueError(f"unknown weekday {weekday!r}: use 0 (Monday) to 6 (Sunday)")
        for weekday in range(7):
            intervals = tuple(tuple(i) for i in self.hours.get(weekday, ()))
            if not all(len(i) == 2 and all(isinstance(t, time) for t in i) for i in intervals):
                raise ValueError(f"hours for {_WEEKDAYS[weekday]} must be (start, end) time pairs")
            intervals = tuple(sorted(intervals))
            spans: list[tuple[int, int]] = []
            for start, end in intervals:
                label = f"{_WEEKDAYS[weekday]} {start:%H:%M}-{end:%H:%M}"
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError(f"hours {label} must be local wall-clock times")
                end_us = _DAY_US if end in (time(0, 0), time.max) else _time_us(end)
                if end_us <= _time_us(start):
                    raise ValueError(f"hours {label} end before they start")
                if spans and _time_us(start) < spans[-1][1]:
                    raise ValueError(f"hours {label} overlap the previous interval")
                spans.append((_time_us(start), end_us))
            if intervals:
                hours[weekday] = intervals
            days.append(tuple(spans))
        if not any(days):
            raise ValueError("calendar has no working time on any weekday")
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "_days", tuple(days))

    def __hash__(self) -> int:
        """Hash by value so calendars can key caches."""
        return hash((self.timezone, tuple(sorted(self.hours.items())), self.holidays))

    def __reduce__(self) -> tuple:
        """Pickle by value (the mapping proxy and the window cache are rebuilt)."""
        return (type(self), (self.timezone, dict(self.hours), self.holidays))

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Return the 24x7 UTC calendar without holidays."""
        return cls("UTC", {d: ((time(0, 0), time(0, 0)),) for d in range(7)})

    @classmethod
    def from_config(
        cls,
        *,
        timezone: str,
        hours: Mapping[str, Iterable[Iterable[str]]],
        country: str | None = None,
        subdivision: str | None = None,
        custom_holidays: Iterable[str | date] = (),
        years: Iterable[int] = (),
    ) -> BusinessCalendar:
        """Build a calendar from plain config values, with country holidays for ``years``."""
        parsed: dict[int, tuple[Interval, ...]] = {}
        for key, intervals in hours.items():
            weekday = _DAY_KEYS.get(str(key).strip().lower())
            if weekday is None:
                raise ValueError(f"unknown weekday {key!r}: use one of {', '.join(_WEEKDAYS)}")
            pairs = []
            for interval in intervals:
                pair = list(interval)
                if len(pair) != 2:
                    raise ValueError(f"hours for {key!r} must be [start, end] pairs, got {pair!r}")
                pairs.append((_parse_hhmm(pair[0], end=False), _parse_hhmm(pair[1], end=True)))
            if weekday in parsed:
                raise ValueError(f"weekday {key!r} is given twice")
            parsed[weekday] = tuple(pairs)
        _load_zone(timezone)  # fail on the timezone before the slower holiday lookup
        days_off: set[date] = set()
        years = sorted(set(years))
        if country is not None:
            if not years:
                raise ValueError("years must name at least one year when a country is given")
            try:
                found = holidays_lib.country_holidays(country, subdiv=subdivision, years=years)
            except NotImplementedError as exc:
                raise ValueError(f"unknown country or subdivision: {exc}") from None
            days_off.update(d for d in found if d.year in years)
        elif subdivision is not None:
            raise ValueError("subdivision needs a country")
        for day in custom_holidays:
            if isinstance(day, datetime) or not isinstance(day, date | str):
                raise ValueError(f"custom holiday must be a date or 'YYYY-MM-DD', got {day!r}")
            try:
                days_off.add(day if isinstance(day, date) else date.fromisoformat(day))
            except ValueError:
                raise ValueError(f"custom holiday {day!r} is not a 'YYYY-MM-DD' date") from None
        return cls(timezone, parsed, frozenset(days_off))

    def _resolve(self, naive: datetime) -> int:
        """Return the epoch microseconds of a local wall time (gaps forward, overlaps first)."""
        off0 = self._zone.utcoffset(naive)
        off1 = self._zone.utcoffset(naive.replace(fold=1))
        local_us = (naive - _NAIVE_EPOCH) // _US
        if off1 <= off0:  # normal time, or an overlap where fold=0 is the first occurrence
            return local_us - off0 // _US
        # In a gap: the first real instant at or after this wall time is the transition.
        lo, hi = local_us - off1 // _US, local_us - off0 // _US
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _from_us(mid).astimezone(self._zone).utcoffset() == off0:
                lo = mid
            else:
                hi = mid
        return hi

    def windows(self, day: date) -> tuple[tuple[int, int], ...]:
        """Return the working windows of a local date as UTC epoch-microsecond pairs."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        spans: list[tuple[int, int]] = []
        if day not in self.holidays:
            midnight = datetime(day.year, day.month, day.day)
            for start, end in self._days[day.weekday()]:
                ws = self._resolve(midnight + timedelta(microseconds=start))
                we = self._resolve(midnight + timedelta(microseconds=end))
                if we > ws:  # an interval wholly inside a DST gap has no real time
                    spans.append((ws, we))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[day] = result = tuple(spans)
        return result

    def local_date(self, us: int) -> date:
        """Return the local date of an epoch-microsecond instant."""
        return _from_us(us).astimezone(self._zone).date()


def _parse_hhmm(text: str, *, end: bool) -> time:
    """Parse 'HH:MM' (and '24:00' as an end) into a time."""
    match = _HHMM.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"bad time {text!r}: expected 'HH:MM'")
    hour, minute = int(match[1]), int(match[2])
    if end and (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time {text!r}: expected 'HH:MM' between 00:00 and 24:00")
    return time(hour, minute)


def _add_us(cal: BusinessCalendar, t: int, amount: int) -> int:
    """Return the instant when ``amount`` business microseconds have elapsed after ``t``."""
    day = cal.local_date(t) - _ONE_DAY  # the previous local day may still hold ``t``
    idle = 0
    while True:
        spans = cal.windows(day)
        if spans:
            idle = 0
            for ws, we in spans:
                if we <= t:
                    continue
                t = max(t, ws)
                if amount <= we - t:
                    return t + amount
                amount -= we - t
                t = we
        else:
            idle += 1
            if idle > MAX_IDLE_DAYS:
                raise ValueError(f"calendar has no working time within {MAX_IDLE_DAYS} days")
        day += _ONE_DAY


def _between_us(cal: BusinessCalendar, a: int, b: int) -> int:
    """Return the business microseconds in the instant range [a, b)."""
    if b <= a:
        return 0
    day, last = cal.local_date(a) - _ONE_DAY, cal.local_date(b) + _ONE_DAY
    total = 0
    while day <= last:
        for ws, we in cal.windows(day):
            lo, hi = max(ws, a), min(we, b)
            if hi > lo:
                total += hi - lo
        day += _ONE_DAY
    return total


def add_business_seconds(cal: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """Return the earliest instant at which ``seconds`` of business time have elapsed."""
    return _from_us(_add_us(cal, _to_us(start, "start"), _seconds_to_us(seconds, "seconds")))


def business_seconds_between(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Return the business seconds between two instants (0 if end is not after start)."""
    return _between_us(cal, _to_us(start, "start"), _to_us(end, "end")) / 1_000_000


@dataclass(frozen=True)
class SlaTargets:
    """First-response and resolution targets in business seconds, for one priority."""

    first_response_seconds: float
    resolution_seconds: float
    at_risk_fraction: float = 0.75

    def __post_init__(self) -> None:
        """Reject non-positive targets and fractions outside (0, 1)."""
        for name in ("first_response_seconds", "resolution_seconds"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not 0 < self.at_risk_fraction < 1:
            raise ValueError(f"at_risk_fraction must be in (0, 1), got {self.at_risk_fraction!r}")


class SlaState(StrEnum):
    """How a ticket stands against its SLA, from best to worst."""

    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True)
class SlaDue:
    """When each target falls due; None when nothing is counting towards it."""

    first_response_due: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True)
class SlaClock:
    """One ticket's SLA clock as stored in its row.

    ``consumed_seconds`` is business time banked before ``running_since`` (None while paused
    or resolved). ``first_response_consumed`` is the business time used when the first response
    came; it is filled in at the next pause or resolve if the clock was running then.
    """

    consumed_seconds: float = 0.0
    running_since: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_consumed: float | None = None

    def __post_init__(self) -> None:
        """Check the invariants and normalise instants to UTC."""
        _seconds_to_us(self.consumed_seconds, "consumed_seconds")
        if self.first_response_consumed is not None:
            _seconds_to_us(self.first_response_consumed, "first_response_consumed")
        for name in ("running_since", "first_response_at", "resolved_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _from_us(_to_us(value, name)))
        if self.resolved_at is not None and self.running_since is not None:
            raise ValueError("a resolved clock cannot be running")


def _fr_consumed_us(clock: SlaClock, cal: BusinessCalendar) -> int | None:
    """Return the business microseconds used when the first response came, if it came."""
    if clock.first_response_at is None:
        return None
    if clock.first_response_consumed is not None:
        return round(clock.first_response_consumed * 1_000_000)
    banked = round(clock.consumed_seconds * 1_000_000)
    if clock.running_since is None:
        return banked
    return banked + _between_us(cal, _to_us(clock.running_since), _to_us(clock.first_response_at))


def _consumed_us(clock: SlaClock, cal: BusinessCalendar, now_us: int) -> int:
    """Return the business microseconds used up to ``now``."""
    banked = round(clock.consumed_seconds * 1_000_000)
    if clock.running_since is None:
        return banked
    return banked + _between_us(cal, _to_us(clock.running_since), now_us)


def start_clock(now: datetime) -> SlaClock:
    """Return a new clock running from ``now`` (ticket intake)."""
    return SlaClock(running_since=_from_us(_to_us(now, "now")))


def pause(clock: SlaClock, cal: BusinessCalendar, now: datetime) -> SlaClock:
    """Return the clock paused at ``now`` (ticket pending), banking the business time used."""
    if clock.running_since is None:
        raise ValueError("cannot pause a clock that is not running")
    fr = _fr_consumed_us(clock, cal)
    return replace(
        clock,
        consumed_seconds=_consumed_us(clock, cal, _to_us(now, "now")) / 1_000_000,
        running_since=None,
        first_response_consumed=None if fr is None else fr / 1_000_000,
    )


def resume(clock: SlaClock, now: datetime) -> SlaClock:
    """Return the paused clock running again from ``now`` (ticket leaves pending)."""
    if clock.resolved_at is not None:
        raise ValueError("cannot resume a resolved clock")
    if clock.running_since is not None:
        raise ValueError("cannot resume a clock that is already running")
    return replace(clock, running_since=_from_us(_to_us(now, "now")))


def record_first_response(clock: SlaClock, now: datetime) -> SlaClock:
    """Return the clock with its first response at ``now``; later responses change nothing."""
    now_us = _to_us(now, "now")
    if clock.first_response_at is not None:
        return clock
    if clock.resolved_at is not None:
        raise ValueError("cannot record a first response on a resolved clock")
    paused_fr = clock.consumed_seconds if clock.running_since is None else None
    return replace(clock, first_response_at=_from_us(now_us), first_response_consumed=paused_fr)


def resolve(clock: SlaClock, cal: BusinessCalendar, now: datetime) -> SlaClock:
    """Return the clock stopped for good at ``now`` (ticket resolved)."""
    if clock.resolved_at is not None:
        raise ValueError("clock is already resolved")
    now_us = _to_us(now, "now")
    if clock.running_since is not None:
        clock = pause(clock, cal, now)
    return replace(clock, resolved_at=_from_us(now_us))


def consumed(clock: SlaClock, cal: BusinessCalendar, now: datetime) -> float:
    """Return the business seconds the clock has used up to ``now``."""
    return _consumed_us(clock, cal, _to_us(now, "now")) / 1_000_000


def _due_us(clock: SlaClock, cal: BusinessCalendar, base_us: int, target_us: int) -> int:
    """Return when a target falls due counting from ``base_us`` (``base_us`` if already used)."""
    remaining = target_us - round(clock.consumed_seconds * 1_000_000)
    return base_us if remaining <= 0 else _add_us(cal, base_us, remaining)


def due_times(clock: SlaClock, cal: BusinessCalendar, targets: SlaTargets, now: datetime) -> SlaDue:
    """Return the due instants; while paused the first-response due is projected from ``now``."""
    now_us = _to_us(now, "now")
    if clock.resolved_at is not None:
        return SlaDue(None, None)
    running = clock.running_since is not None
    base = _to_us(clock.running_since) if running else now_us
    fr = None
    if clock.first_response_at is None:
        fr = _from_us(_due_us(clock, cal, base, round(targets.first_response_seconds * 1e6)))
    res = None
    if running:
        res = _from_us(_due_us(clock, cal, base, round(targets.resolution_seconds * 1e6)))
    return SlaDue(fr, res)


def at_risk_at(
    clock: SlaClock, cal: BusinessCalendar, targets: SlaTargets, now: datetime
) -> datetime | None:
    """Return the earliest instant an open target reaches its at-risk fraction (None if none)."""
    f = targets.at_risk_fraction
    early = SlaTargets(targets.first_response_seconds * f, targets.resolution_seconds * f, f)
    due = due_times(clock, cal, early, now)
    instants = [d for d in (due.first_response_due, due.resolution_due) if d is not None]
    return min(instants, default=None)


def retarget(clock: SlaClock, cal: BusinessCalendar, targets: SlaTargets, now: datetime) -> SlaDue:
    """Return the due instants after a priority change: same clock, new targets, time kept."""
    return due_times(clock, cal, targets, now)


def _target_state(
    clock: SlaClock,
    cal: BusinessCalendar,
    now_us: int,
    used_us: int,
    met_us: int | None,
    target_seconds: float,
    fraction: float,
) -> SlaState:
    """Return the state of one target given the time used now and when it was met."""
    target_us = round(target_seconds * 1_000_000)
    if met_us is not None:
        return SlaState.BREACHED if met_us > target_us else SlaState.OK
    if used_us > target_us:
        return SlaState.BREACHED
    if used_us == target_us and clock.running_since is not None:
        # Due exactly at the close of business: late as soon as ``now`` passes the due instant.
        if now_us > _due_us(clock, cal, _to_us(clock.running_since), target_us):
            return SlaState.BREACHED
    return SlaState.AT_RISK if used_us >= fraction * target_us else SlaState.OK


def sla_states(
    clock: SlaClock, cal: BusinessCalendar, targets: SlaTargets, now: datetime
) -> dict[str, SlaState]:
    """Return the state per target ("first_response", "resolution") and the worst ("overall")."""
    now_us = _to_us(now, "now")
    used = _consumed_us(clock, cal, now_us)
    resolved = used if clock.resolved_at is not None else None
    # A ticket resolved without a first response is judged on the time used at resolution.
    fr_met = _fr_consumed_us(clock, cal)
    fr_met = resolved if fr_met is None else fr_met
    frac = targets.at_risk_fraction
    states = {
        "first_response": _target_state(
            clock, cal, now_us, used, fr_met, targets.first_response_seconds, frac
        ),
        "resolution": _target_state(
            clock, cal, now_us, used, resolved, targets.resolution_seconds, frac
        ),
    }
    order = list(SlaState)
    states["overall"] = max(states.values(), key=order.index)
    return states


def sla_state(
    clock: SlaClock, cal: BusinessCalendar, targets: SlaTargets, now: datetime
) -> SlaState:
    """Return the worst state over both targets: "ok", "at_risk" or "breached"."""
    return sla_states(clock, cal, targets, now)["overall"]
