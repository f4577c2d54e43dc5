"""Tests for the pure SLA arithmetic; expected instants are worked out by hand in the comments."""

import pickle
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from triage.sla import (
    BusinessCalendar,
    SlaClock,
    SlaState,
    SlaTargets,
    add_business_seconds,
    business_seconds_between,
    consumed,
    due_times,
    pause,
    record_first_response,
    resolve,
    resume,
    retarget,
    sla_state,
    sla_states,
    start_clock,
)

H = 3600
WEEK = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEK, "sat", "sun")


def utc(text: str) -> datetime:
    """Parse 'YYYY-MM-DD HH:MM[:SS]' as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def calendar(tz: str, hours: dict, **kwargs) -> BusinessCalendar:
    """Build a calendar from config with an empty custom-holiday list by default."""
    return BusinessCalendar.from_config(timezone=tz, hours=hours, **kwargs)


LUNCH = [["09:00", "12:00"], ["13:00", "18:00"]]
# Sao Paulo has had no DST since 2019, so in 2026 local = UTC-3: 09:00 local is 12:00Z.
BR = calendar("America/Sao_Paulo", {d: LUNCH for d in WEEK}, country="BR", years=range(2025, 2028))
BR_CUSTOM = calendar(
    "America/Sao_Paulo",
    {d: LUNCH for d in WEEK},
    country="BR",
    years=[2026],
    custom_holidays=["2026-03-11"],
)
# Lisbon in June is WEST = UTC+1.
PT = calendar(
    "Europe/Lisbon", {d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in WEEK}, country="PT",
    years=[2026],
)  # fmt: skip
SP_9_18 = calendar("America/Sao_Paulo", {d: [["09:00", "18:00"]] for d in WEEK})
LIS_9_18 = calendar("Europe/Lisbon", {d: [["09:00", "18:00"]] for d in WEEK})
SP_ALWAYS = calendar("America/Sao_Paulo", {d: [["00:00", "24:00"]] for d in ALL_DAYS})
LIS_ALWAYS = calendar("Europe/Lisbon", {d: [["00:00", "24:00"]] for d in ALL_DAYS})
SP_SUN_NIGHT = calendar("America/Sao_Paulo", {"sun": [["00:00", "06:00"]]})
SP_SUN_GAP = calendar("America/Sao_Paulo", {"sun": [["00:30", "02:00"]]})
SP_SAT_LATE = calendar("America/Sao_Paulo", {"sat": [["22:00", "24:00"]]})
SP_SAT_AMBIGUOUS = calendar("America/Sao_Paulo", {"saturday": [["23:30", "24:00"]]})
LIS_SUN_NIGHT = calendar("Europe/Lisbon", {"sun": [["00:00", "06:00"]]})
LIS_SUN_GAP = calendar("Europe/Lisbon", {"sun": [["01:30", "03:00"]]})
LIS_SUN_AMBIGUOUS_END = calendar("Europe/Lisbon", {"sun": [["00:00", "01:30"]]})

ADD_CASES = [
    # Tue 10:00 local + 1h -> 11:00 local.
    ("plain weekday", BR, "2026-03-10 13:00", 1 * H, "2026-03-10 14:00"),
    # Tue 11:00 + 2h: 11-12, lunch, 13-14 -> 14:00 local.
    ("across lunch", BR, "2026-03-10 14:00", 2 * H, "2026-03-10 17:00"),
    # Tue 12:30 (lunch) + 30 min: counting starts at 13:00 -> 13:30 local.
    ("start in lunch", BR, "2026-03-10 15:30", 1800, "2026-03-10 16:30"),
    # Tue 07:00 + 30 min -> 09:30 local.
    ("before opening", BR, "2026-03-10 10:00", 1800, "2026-03-10 12:30"),
    # Tue 19:00 + 1h -> Wed 10:00 local.
    ("after closing", BR, "2026-03-10 22:00", 1 * H, "2026-03-11 13:00"),
    # Fri 17:00 + 2h: 17-18 Fri, weekend, Mon 09-10 -> Mon 10:00 local.
    ("friday evening", BR, "2026-03-13 20:00", 2 * H, "2026-03-16 13:00"),
    # Tue 09:00 + 8h ends exactly at 18:00 Tue, not at Wed 09:00.
    ("ends at closing", BR, "2026-03-10 12:00", 8 * H, "2026-03-10 21:00"),
    # Zero seconds from Saturday is the next working instant: Mon 09:00 local.
    ("zero from saturday", BR, "2026-03-14 13:00", 0, "2026-03-16 12:00"),
    # Tue 10:00 + 16h: Tue 7h, Wed 8h, Thu 1h -> Thu 10:00 local.
    ("two business days", BR, "2026-03-10 13:00", 16 * H, "2026-03-12 13:00"),
    ("sub-second", BR, "2026-03-10 13:00:00.250", 0.5, "2026-03-10 13:00:00.750"),
    # Thu 17:00 + 2h; Fri 2026-11-20 is Consciencia Negra (national since 2024) -> Mon 10:00.
    ("BR consciencia negra", BR, "2026-11-19 20:00", 2 * H, "2026-11-23 13:00"),
    # Thu 17:30 + 1h; Fri 2026-12-25 is Christmas -> Mon 09:30 local.
    ("BR christmas", BR, "2026-12-24 20:30", 1 * H, "2026-12-28 12:30"),
    # Mon 17:00 + 2h; Tue 2026-04-21 is Tiradentes -> Wed 10:00 local.
    ("BR tiradentes", BR, "2026-04-20 20:00", 2 * H, "2026-04-22 13:00"),
    # Tue 17:00 + 2h; Wed 2026-03-11 is a custom holiday -> Thu 10:00 local.
    ("custom holiday", BR_CUSTOM, "2026-03-10 20:00", 2 * H, "2026-03-12 13:00"),
    # Lisbon Tue 17:00 WEST + 2h; Wed 2026-06-10 is Dia de Portugal -> Thu 10:00 WEST.
    ("PT dia de portugal", PT, "2026-06-09 16:00", 2 * H, "2026-06-11 09:00"),
    # Fri 2018-11-02 17:00 -03 + 2h; clocks went to -02 on Sunday -> Mon 10:00 -02.
    ("SP spring forward 9-18", SP_9_18, "2018-11-02 20:00", 2 * H, "2018-11-05 12:00"),
    # Fri 2019-02-15 17:00 -02 + 2h; clocks went back to -03 -> Mon 10:00 -03.
    ("SP fall back 9-18", SP_9_18, "2019-02-15 19:00", 2 * H, "2019-02-18 13:00"),
    # Local midnight 2018-11-04 does not exist: the day starts 01:00 -02 (03:00Z).
    ("SP 24x7 short day", SP_ALWAYS, "2018-11-04 03:00", 24 * H, "2018-11-05 03:00"),
    # Sunday 00:00-06:00 on the spring-forward day is 03:00Z-08:00Z: 5 real hours.
    ("SP night spans gap", SP_SUN_NIGHT, "2018-11-03 12:00", 5 * H, "2018-11-04 08:00"),
    # ... and the sixth hour comes the next Sunday, 00:00 -02 = 02:00Z.
    ("SP night next week", SP_SUN_NIGHT, "2018-11-03 12:00", 5.5 * H, "2018-11-11 02:30"),
    # 00:30 is inside the gap, so it resolves forward to the transition at 03:00Z.
    ("SP start in gap", SP_SUN_GAP, "2018-11-03 12:00", 1800, "2018-11-04 03:30"),
    # Sat 2019-02-16 22:00 -02 (00:00Z) to 24:00 -03 (03:00Z) holds the repeated hour: 3h.
    ("SP late spans overlap", SP_SAT_LATE, "2019-02-16 12:00", 2.5 * H, "2019-02-17 02:30"),
    # 23:30 is ambiguous: the first occurrence is 23:30 -02 = 01:30Z.
    ("SP ambiguous start", SP_SAT_AMBIGUOUS, "2019-02-16 12:00", 1800, "2019-02-17 02:00"),
    # Fri 17:00 WET + 2h; clocks went to WEST on Sunday -> Mon 10:00 WEST.
    ("LIS spring forward 9-18", LIS_9_18, "2026-03-27 17:00", 2 * H, "2026-03-30 09:00"),
    # Fri 17:00 WEST + 2h; clocks went back to WET -> Mon 10:00 WET.
    ("LIS fall back 9-18", LIS_9_18, "2026-10-23 16:00", 2 * H, "2026-10-26 10:00"),
    # Sunday 00:00 WET (00:00Z) to 06:00 WEST (05:00Z): 5 real hours.
    ("LIS night spans gap", LIS_SUN_NIGHT, "2026-03-28 12:00", 5 * H, "2026-03-29 05:00"),
    # Sunday 00:00 WEST (23:00Z Sat) to 06:00 WET (06:00Z): 7 real hours.
    ("LIS night spans overlap", LIS_SUN_NIGHT, "2026-10-24 12:00", 7 * H, "2026-10-25 06:00"),
    # 01:30 is in the 01:00-02:00 gap, so the window starts at the transition, 01:00Z.
    ("LIS start in gap", LIS_SUN_GAP, "2026-03-28 12:00", 1800, "2026-03-29 01:30"),
    # 01:30 is ambiguous: the first occurrence is 01:30 WEST = 00:30Z, so the window is 1.5h.
    ("LIS ambiguous end", LIS_SUN_AMBIGUOUS_END, "2026-10-24 12:00", 5400, "2026-10-25 00:30"),
    # One second more rolls to the next Sunday, 00:00 WET = 00:00Z.
    ("LIS after ambiguous", LIS_SUN_AMBIGUOUS_END, "2026-10-24 12:00", 5401,
     "2026-11-01 00:00:01"),
    ("24x7 UTC", BusinessCalendar.always(), "2026-03-14 10:00", 36 * H, "2026-03-15 22:00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cal", "start", "seconds", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ADD_CASES],
)
def test_add_business_seconds(cal, start, seconds, expected):
    assert add_business_seconds(cal, utc(start), seconds) == utc(expected)


def test_add_business_seconds_accepts_other_zones_and_returns_utc():
    start = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    due = add_business_seconds(BR, start, H)
    assert due == utc("2026-03-10 14:00")
    assert due.utcoffset() == timedelta(0)


BETWEEN_CASES = [
    # A full week of 8h days.
    ("BR week", BR, "2026-03-09 00:00", "2026-03-16 00:00", 40 * H),
    # Tiradentes takes one day out.
    ("BR tiradentes week", BR, "2026-04-20 00:00", "2026-04-27 00:00", 32 * H),
    # Dia de Portugal takes one day out.
    ("PT holiday week", PT, "2026-06-08 00:00", "2026-06-15 00:00", 32 * H),
    # 11:30-12:00 and 13:00-13:30 local.
    ("BR across lunch", BR, "2026-03-10 14:30", "2026-03-10 16:30", 1 * H),
    ("end before start", BR, "2026-03-10 16:30", "2026-03-10 14:30", 0),
    # Local midnight to local midnight: 23h on the spring-forward day, 25h on the long day.
    ("SP 24x7 23h day", SP_ALWAYS, "2018-11-04 03:00", "2018-11-05 02:00", 23 * H),
    ("SP 24x7 25h day", SP_ALWAYS, "2019-02-16 02:00", "2019-02-17 03:00", 25 * H),
    ("LIS 24x7 23h day", LIS_ALWAYS, "2026-03-29 00:00", "2026-03-29 23:00", 23 * H),
    ("LIS 24x7 25h day", LIS_ALWAYS, "2026-10-24 23:00", "2026-10-26 00:00", 25 * H),
    ("SP night on gap day", SP_SUN_NIGHT, "2018-11-03 12:00", "2018-11-05 00:00", 5 * H),
    ("SP night normal day", SP_SUN_NIGHT, "2018-10-27 12:00", "2018-10-29 00:00", 6 * H),
    ("SP start in gap", SP_SUN_GAP, "2018-11-03 12:00", "2018-11-05 00:00", 1 * H),
    ("SP late on long day", SP_SAT_LATE, "2019-02-16 12:00", "2019-02-18 00:00", 3 * H),
    ("SP ambiguous start", SP_SAT_AMBIGUOUS, "2019-02-16 12:00", "2019-02-18 00:00", 1.5 * H),
    ("LIS night on gap day", LIS_SUN_NIGHT, "2026-03-28 12:00", "2026-03-30 00:00", 5 * H),
    ("LIS night on long day", LIS_SUN_NIGHT, "2026-10-24 12:00", "2026-10-26 00:00", 7 * H),
    ("LIS start in gap", LIS_SUN_GAP, "2026-03-28 12:00", "2026-03-30 00:00", 1 * H),
    ("LIS ambiguous end", LIS_SUN_AMBIGUOUS_END, "2026-10-24 12:00", "2026-10-26 00:00",
     1.5 * H),
    # Weekdays 9-18 are 9h whether the DST change falls on the weekend or not.
    ("SP 9-18 DST week", SP_9_18, "2018-11-05 00:00", "2018-11-10 00:00", 45 * H),
    ("LIS 9-18 DST week", LIS_9_18, "2026-10-26 00:00", "2026-10-31 00:00", 45 * H),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cal", "start", "end", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BETWEEN_CASES],
)
def test_business_seconds_between(cal, start, end, expected):
    assert business_seconds_between(cal, utc(start), utc(end)) == expected


@pytest.mark.parametrize(
    ("cal", "day", "hours"),
    [
        (SP_ALWAYS, date(2018, 11, 4), 23),
        (SP_ALWAYS, date(2019, 2, 16), 25),
        (SP_ALWAYS, date(2019, 2, 17), 24),
        (LIS_ALWAYS, date(2026, 3, 29), 23),
        (LIS_ALWAYS, date(2026, 10, 25), 25),
    ],
)
def test_24x7_calendar_has_short_and_long_days(cal, day, hours):
    assert sum(end - start for start, end in cal.windows(day)) == hours * H * 1_000_000


def test_holidays_are_only_known_for_the_years_given():
    # Fri 2027-01-01 is a holiday in BR, but only a calendar built for 2027 knows it.
    hours = {d: LUNCH for d in WEEK}
    only_2026 = calendar("America/Sao_Paulo", hours, country="BR", years=[2026])
    with_2027 = calendar("America/Sao_Paulo", hours, country="BR", years=[2026, 2027])
    thursday_1700 = utc("2026-12-31 20:00")
    assert add_business_seconds(only_2026, thursday_1700, 2 * H) == utc("2027-01-01 13:00")
    assert add_business_seconds(with_2027, thursday_1700, 2 * H) == utc("2027-01-04 13:00")


def test_subdivision_holidays():
    # 2026-07-09 (Thu) is the Constitutionalist Revolution, a holiday in Sao Paulo state only.
    hours = {d: LUNCH for d in WEEK}
    sp = calendar("America/Sao_Paulo", hours, country="BR", subdivision="SP", years=[2026])
    assert date(2026, 7, 9) in sp.holidays
    assert date(2026, 7, 9) not in BR.holidays
    assert business_seconds_between(sp, utc("2026-07-09 00:00"), utc("2026-07-10 00:00")) == 0


ROUND_TRIP_CALENDARS = [BR, PT, SP_9_18, LIS_9_18, SP_SUN_NIGHT, SP_SAT_AMBIGUOUS, LIS_ALWAYS]


@pytest.mark.parametrize("cal", ROUND_TRIP_CALENDARS, ids=lambda c: c.timezone)
def test_round_trip_over_random_starts(cal):
    rng = random.Random(20260310)
    low, high = utc("2018-01-01 00:00"), utc("2027-12-01 00:00")
    span_us = int((high - low) / timedelta(microseconds=1))
    for _ in range(300):
        start = low + timedelta(microseconds=rng.randrange(span_us))
        seconds = rng.randrange(0, 200 * H * 1_000_000) / 1_000_000
        due = add_business_seconds(cal, start, seconds)
        assert due >= start
        assert business_seconds_between(cal, start, due) == seconds
        if seconds:  # the due instant is the earliest one: a microsecond before is short
            before = due - timedelta(microseconds=1)
            assert business_seconds_between(cal, start, before) < seconds
        end = start + timedelta(seconds=rng.uniform(0, 30 * 86400))
        spent = business_seconds_between(cal, start, end)
        back = add_business_seconds(cal, start, spent)
        if spent:  # zero from outside working time moves on to the next working instant
            assert back <= end
        assert business_seconds_between(cal, start, back) == spent


def test_between_matches_minute_by_minute_count():
    # An independent oracle for a calendar without DST: check every minute's local wall time.
    zone, rng = ZoneInfo("America/Sao_Paulo"), random.Random(7)
    for _ in range(40):
        start = utc("2026-01-01 00:00") + timedelta(minutes=rng.randrange(365 * 1440))
        minutes = rng.randrange(1, 4 * 1440)
        working = 0
        for m in range(minutes):
            local = (start + timedelta(minutes=m)).astimezone(zone)
            clock_time = local.time()
            if local.weekday() < 5 and local.date() not in BR.holidays:
                if time(9) <= clock_time < time(12) or time(13) <= clock_time < time(18):
                    working += 60
        assert business_seconds_between(BR, start, start + timedelta(minutes=minutes)) == working


def test_calendar_without_working_days_within_three_years_is_an_error():
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(4 * 53)]
    cal = calendar("UTC", {"mon": [["09:00", "17:00"]]}, custom_holidays=mondays)
    with pytest.raises(ValueError, match="no working time within"):
        add_business_seconds(cal, utc("2026-01-01 00:00"), 60)


def test_calendar_pickles_by_value():
    copy = pickle.loads(pickle.dumps(BR))
    assert copy == BR
    assert add_business_seconds(copy, utc("2026-11-19 20:00"), 2 * H) == utc("2026-11-23 13:00")


def test_calendar_is_hashable_and_compares_by_value():
    again = calendar(
        "America/Sao_Paulo", {d: LUNCH for d in WEEK}, country="BR", years=range(2025, 2028)
    )
    assert again == BR and hash(again) == hash(BR)
    assert BusinessCalendar.always() == BusinessCalendar.always()


BASE_CONFIG = {"timezone": "America/Sao_Paulo", "hours": {"mon": [["09:00", "18:00"]]}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"timezone": "../etc/passwd"}, "unknown timezone"),
        ({"country": "XX", "years": [2026]}, "unknown country"),
        ({"country": "BR", "subdivision": "ZZ", "years": [2026]}, "unknown country or subdiv"),
        ({"country": "BR"}, "years must name at least one year"),
        ({"subdivision": "SP"}, "subdivision needs a country"),
        ({"hours": {"mon": [["9am", "18:00"]]}}, "bad time '9am'"),
        ({"hours": {"mon": [["09:00", "25:00"]]}}, "bad time '25:00'"),
        ({"hours": {"mon": [["24:00", "24:00"]]}}, "bad time '24:00'"),
        ({"hours": {"mon": [["18:00", "09:00"]]}}, "mon 18:00-09:00 end before"),
        ({"hours": {"mon": [["09:00", "09:00"]]}}, "end before they start"),
        ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlap"),
        ({"hours": {"funday": [["09:00", "18:00"]]}}, "unknown weekday 'funday'"),
        ({"hours": {"mon": [], "monday": []}}, "given twice"),
        ({"hours": {"mon": [["09:00"]]}}, r"\[start, end\] pairs"),
        ({"hours": {}}, "no working time on any weekday"),
        ({"hours": {"sat": []}}, "no working time on any weekday"),
        ({"custom_holidays": ["2026-13-01"]}, "custom holiday '2026-13-01'"),
        ({"custom_holidays": [datetime(2026, 1, 1)]}, "custom holiday must be a date"),
    ],
)
def test_from_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_config(**{**BASE_CONFIG, **changes})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: BusinessCalendar("UTC", {7: ((time(9), time(17)),)}), "unknown weekday 7"),
        (lambda: BusinessCalendar("UTC", {0: (("09:00", "17:00"),)}), "time pairs"),
        (lambda: add_business_seconds(BR, datetime(2026, 3, 10, 9), 60), "timezone-aware"),
        (lambda: add_business_seconds(BR, utc("2026-03-10 12:00"), -1), "non-negative"),
        (lambda: add_business_seconds(BR, utc("2026-03-10 12:00"), float("nan")), "non-neg"),
        (lambda: business_seconds_between(BR, utc("2026-03-10 12:00"), datetime(2026, 3, 11)),
         "end must be a timezone-aware"),
        (lambda: SlaTargets(0, 10), "first_response_seconds must be a positive"),
        (lambda: SlaTargets(10, -1), "resolution_seconds must be a positive"),
        (lambda: SlaTargets(10, float("nan")), "resolution_seconds must be a positive"),
        (lambda: SlaTargets(10, 10, 1.0), r"at_risk_fraction must be in \(0, 1\)"),
        (lambda: SlaTargets(10, 10, 0.0), "at_risk_fraction"),
        (lambda: start_clock(datetime(2026, 3, 10, 9)), "now must be a timezone-aware"),
        (lambda: SlaClock(consumed_seconds=-1), "consumed_seconds must be a non-negative"),
        (lambda: SlaClock(running_since=utc("2026-03-10 12:00"),
                          resolved_at=utc("2026-03-10 13:00")), "resolved clock cannot be running"),
    ],
)  # fmt: skip
def test_validation_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# SLA clocks on the BR calendar. A ticket opened Tue 2026-03-10 10:00 local (13:00Z).
HIGH = SlaTargets(first_response_seconds=4 * H, resolution_seconds=16 * H)
URGENT = SlaTargets(first_response_seconds=1 * H, resolution_seconds=4 * H)
LOW = SlaTargets(first_response_seconds=8 * H, resolution_seconds=40 * H)
OPENED = utc("2026-03-10 13:00")


def test_due_times_at_intake():
    clock = start_clock(OPENED)
    due = due_times(clock, BR, HIGH, OPENED)
    # 4h: 10-12, 13-15 -> 15:00 local. 16h: Tue 7h, Wed 8h, Thu 1h -> Thu 10:00 local.
    assert due.first_response_due == utc("2026-03-10 18:00")
    assert due.resolution_due == utc("2026-03-12 13:00")


def _responded_and_paused() -> SlaClock:
    """Open Tue 10:00, answer at 11:00, go pending at 14:00 local: 3h banked."""
    clock = record_first_response(start_clock(OPENED), utc("2026-03-10 14:00"))
    return pause(clock, BR, utc("2026-03-10 17:00"))


def test_pause_banks_business_time_and_stops_the_clock():
    clock = _responded_and_paused()
    assert clock.consumed_seconds == 3 * H
    assert clock.running_since is None
    assert clock.first_response_consumed == 1 * H
    assert consumed(clock, BR, utc("2026-03-20 12:00")) == 3 * H
    due = due_times(clock, BR, HIGH, utc("2026-03-11 15:00"))
    assert due.first_response_due is None and due.resolution_due is None
    assert sla_state(clock, BR, HIGH, utc("2026-03-20 12:00")) == "ok"


@pytest.mark.parametrize(
    "resumed",
    [
        "2026-03-12 12:00",  # Thu 09:00 local
        "2026-03-11 22:00",  # Wed 19:00 local: nothing counts until Thu 09:00
    ],
)
def test_resume_keeps_banked_time(resumed):
    clock = resume(_responded_and_paused(), utc(resumed))
    # 13h left from Thu 09:00: Thu 8h, Fri 09-12 and 13-15 -> Fri 15:00 local.
    assert due_times(clock, BR, HIGH, utc("2026-03-12 15:00")).resolution_due == utc(
        "2026-03-13 18:00"
    )
    # Thu 09:00-12:00 local adds 3h to the 3h banked.
    assert consumed(clock, BR, utc("2026-03-12 15:00")) == 6 * H


@pytest.mark.parametrize(
    ("targets", "responded", "first_response_due", "resolution_due"),
    [
        # Same priority, already answered: 16h from Tue 10:00 -> Thu 10:00 local.
        (HIGH, True, None, "2026-03-12 13:00"),
        # Raised to urgent with 3h used: the 1h reply target passed at 11:00 local and the
        # 4h resolution target is 1h away, 15:00 local.
        (URGENT, False, "2026-03-10 14:00", "2026-03-10 18:00"),
        # Lowered: 8h -> Wed 10:00 local; 40h: Tue 7, Wed 15, Thu 23, Fri 31, Mon 39, Tue +1.
        (LOW, False, "2026-03-11 13:00", "2026-03-17 13:00"),
    ],
)
def test_retarget_while_running_keeps_time_spent(
    targets, responded, first_response_due, resolution_due
):
    # Priority changes at Tue 14:00 local with 3h used.
    clock = start_clock(OPENED)
    if responded:
        clock = record_first_response(clock, utc("2026-03-10 14:00"))
    now = utc("2026-03-10 17:00")
    due = retarget(clock, BR, targets, now)
    assert due.first_response_due == (first_response_due and utc(first_response_due))
    assert due.resolution_due == utc(resolution_due)
    assert due == due_times(clock, BR, targets, now)


@pytest.mark.parametrize(
    ("targets", "resolution_due", "state"),
    [
        # 16h - 3h banked = 13h from Thu 09:00 -> Fri 15:00 local.
        (HIGH, "2026-03-13 18:00", "ok"),
        # 4h - 3h banked = 1h from Thu 09:00 -> Thu 10:00; at Thu 12:00 local 6h are used.
        (URGENT, "2026-03-12 13:00", "breached"),
        # 40h - 3h = 37h: Thu 8, Fri 8, Mon 8, Tue 8 (32), Wed 09-12 and 13-15 -> Wed 15:00.
        (LOW, "2026-03-18 18:00", "ok"),
        # 2h target already used up while pending: due at the resume instant.
        (SlaTargets(1800, 2 * H), "2026-03-12 12:00", "breached"),
    ],
)
def test_retarget_after_pause_keeps_time_spent(targets, resolution_due, state):
    clock = resume(_responded_and_paused(), utc("2026-03-12 12:00"))
    now = utc("2026-03-12 15:00")
    assert retarget(clock, BR, targets, now).resolution_due == utc(resolution_due)
    assert sla_states(clock, BR, targets, now)["resolution"] == state


@pytest.mark.parametrize(
    ("now", "first_response", "resolution", "overall"),
    [
        ("2026-03-10 14:00", "ok", "ok", "ok"),  # 1h used
        ("2026-03-10 17:00", "at_risk", "ok", "at_risk"),  # 3h = 75% of 4h
        ("2026-03-10 18:00", "at_risk", "ok", "at_risk"),  # exactly at the due instant
        ("2026-03-10 18:30", "breached", "ok", "breached"),  # 4.5h > 4h
        ("2026-03-12 12:00", "breached", "at_risk", "breached"),  # 15h >= 12h
        ("2026-03-12 14:00", "breached", "breached", "breached"),  # 17h > 16h
    ],
)
def test_states_without_first_response(now, first_response, resolution, overall):
    states = sla_states(start_clock(OPENED), BR, HIGH, utc(now))
    assert states == {
        "first_response": first_response,
        "resolution": resolution,
        "overall": overall,
    }
    assert sla_state(start_clock(OPENED), BR, HIGH, utc(now)) == overall


@pytest.mark.parametrize(
    ("now", "state"),
    [
        ("2026-03-13 20:59", "at_risk"),  # Fri 17:59 local: 3h59 of 4h
        ("2026-03-13 21:00", "at_risk"),  # Fri 18:00 local: due now, not late yet
        ("2026-03-14 13:00", "breached"),  # Saturday: still 4h used, but past the due instant
    ],
)
def test_due_at_closing_is_breached_over_the_weekend(now, state):
    # Opened Fri 14:00 local; the 4h first-response target runs out exactly at 18:00 Friday.
    clock = start_clock(utc("2026-03-13 17:00"))
    assert due_times(clock, BR, HIGH, utc(now)).first_response_due == utc("2026-03-13 21:00")
    assert sla_states(clock, BR, HIGH, utc(now))["first_response"] == state


def test_late_first_response_stays_breached_through_pauses():
    # Answered Tue 15:30 local, 4.5h in: late. It stays late after pending and resuming.
    clock = record_first_response(start_clock(OPENED), utc("2026-03-10 18:30"))
    assert sla_states(clock, BR, HIGH, utc("2026-03-11 13:00"))["first_response"] == "breached"
    clock = pause(clock, BR, utc("2026-03-11 13:00"))
    assert clock.first_response_consumed == 4.5 * H
    clock = resume(clock, utc("2026-03-12 12:00"))
    states = sla_states(clock, BR, HIGH, utc("2026-03-12 13:00"))
    # Resolution: Tue 7h + Wed 1h banked + Thu 1h = 9h of 16h.
    assert states == {"first_response": "breached", "resolution": "ok", "overall": "breached"}
    assert due_times(clock, BR, HIGH, utc("2026-03-12 13:00")).first_response_due is None


def test_on_time_first_response_stays_ok_after_the_target_passes():
    clock = _responded_and_paused()  # answered 1h in
    clock = resume(clock, utc("2026-03-12 12:00"))
    assert sla_states(clock, BR, HIGH, utc("2026-03-12 15:00"))["first_response"] == "ok"


def test_first_response_while_paused_uses_banked_time():
    clock = pause(start_clock(OPENED), BR, utc("2026-03-10 14:00"))  # 1h used
    clock = record_first_response(clock, utc("2026-03-11 13:00"))
    assert clock.first_response_consumed == 1 * H
    assert sla_states(clock, BR, HIGH, utc("2026-03-20 13:00"))["first_response"] == "ok"


def test_later_responses_do_not_move_the_first_response():
    clock = record_first_response(start_clock(OPENED), utc("2026-03-10 14:00"))
    assert record_first_response(clock, utc("2026-03-11 14:00")) == clock


@pytest.mark.parametrize(
    ("resolved", "used", "first_response", "resolution"),
    [
        ("2026-03-11 13:00", 8 * H, "ok", "ok"),  # Wed 10:00 local: Tue 7h + Wed 1h
        ("2026-03-12 14:00", 17 * H, "ok", "breached"),  # Thu 11:00 local: 7 + 8 + 2
    ],
)
def test_resolve_freezes_the_clock(resolved, used, first_response, resolution):
    clock = record_first_response(start_clock(OPENED), utc("2026-03-10 14:00"))
    clock = resolve(clock, BR, utc(resolved))
    later = utc("2026-04-30 15:00")
    assert clock.resolved_at == utc(resolved) and clock.running_since is None
    assert consumed(clock, BR, later) == used
    assert due_times(clock, BR, HIGH, later).resolution_due is None
    assert sla_states(clock, BR, HIGH, later) == {
        "first_response": first_response,
        "resolution": resolution,
        "overall": resolution,
    }


def test_resolved_without_first_response_is_judged_at_resolution():
    # Resolved Tue 15:00 local with 5h used and no reply: first response late, resolution fine.
    clock = resolve(start_clock(OPENED), BR, utc("2026-03-10 19:00"))
    states = sla_states(clock, BR, HIGH, utc("2026-04-30 15:00"))
    assert states == {"first_response": "breached", "resolution": "ok", "overall": "breached"}
    assert due_times(clock, BR, HIGH, utc("2026-04-30 15:00")).first_response_due is None


def test_states_are_strings():
    assert SlaState.AT_RISK == "at_risk"
    assert sla_state(start_clock(OPENED), BR, HIGH, OPENED) == "ok"


@pytest.mark.parametrize(
    ("transition", "message"),
    [
        (lambda c: pause(pause(c, BR, OPENED), BR, OPENED), "not running"),
        (lambda c: resume(c, OPENED), "already running"),
        (lambda c: resume(resolve(c, BR, OPENED), OPENED), "resolved"),
        (lambda c: resolve(resolve(c, BR, OPENED), BR, OPENED), "already resolved"),
        (lambda c: record_first_response(resolve(c, BR, OPENED), OPENED), "resolved"),
        (lambda c: pause(c, BR, datetime(2026, 3, 10, 12)), "timezone-aware"),
    ],
)
def test_invalid_transitions(transition, message):
    with pytest.raises(ValueError, match=message):
        transition(start_clock(OPENED))
