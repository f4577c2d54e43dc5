"""Micro-benchmark: add_business_seconds calls per second on a realistic Brazilian calendar.

Run with `.venv/bin/python bench/sla_arith.py [calls]`.
"""

import random
import sys
import time
from datetime import UTC, datetime, timedelta

from triage.sla import BusinessCalendar, add_business_seconds, business_seconds_between

HOURS = {
    day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}
TARGETS_H = (0.25, 1, 4, 8, 16, 24, 40)  # urgent reply ... low-priority resolution


def main(calls: int = 100_000) -> None:
    """Time add_business_seconds and business_seconds_between over random 2026 tickets."""
    cal = BusinessCalendar.from_config(
        timezone="America/Sao_Paulo", hours=HOURS, country="BR", years=range(2025, 2028)
    )
    rng = random.Random(1)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [base + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(calls)]
    seconds = [rng.choice(TARGETS_H) * 3600 for _ in range(calls)]

    began = time.perf_counter()
    dues = [add_business_seconds(cal, s, n) for s, n in zip(starts, seconds, strict=True)]
    add_rate = calls / (time.perf_counter() - began)

    began = time.perf_counter()
    for start, due in zip(starts, dues, strict=True):
        business_seconds_between(cal, start, due)
    between_rate = calls / (time.perf_counter() - began)

    print(f"add_business_seconds:     {add_rate:>10,.0f} calls/s ({calls:,} calls)")
    print(f"business_seconds_between: {between_rate:>10,.0f} calls/s ({calls:,} calls)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
