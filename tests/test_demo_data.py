"""The synthetic demo tickets: reproducible, bilingual and shaped like real support traffic."""

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from triage.demo import generate
from triage.text import detect_language, fold

CSV_PATH = Path(generate.__file__).with_name("tickets.csv")
# The words support teams treat as urgent (outage, breach, payment failure, many users), folded.
URGENT_WORDS = re.compile(
    r"\b(fora do ar|parad[oa]|indisponivel|outage|down|not loading|vazamento|vazaram|invasao"
    r"|invadida|violacao|breach|leak|leaked|hacked|pagamento recusado|cobranca em duplicidade"
    r"|double charged|todos os usuarios|toda a equipe|the whole office)\b"
)


@pytest.fixture(scope="module")
def tickets() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def folded_text(ticket: dict[str, str]) -> str:
    return fold(f"{ticket['subject']} {ticket['description']}")


def share(rows: list[dict[str, str]], test) -> float:
    return sum(1 for row in rows if test(row)) / len(rows)


def test_committed_csv_is_what_the_default_seed_generates(tmp_path):
    out = tmp_path / "tickets.csv"
    generate.main(["--out", str(out)])
    assert out.read_bytes() == CSV_PATH.read_bytes()


def test_same_seed_gives_same_tickets_and_another_seed_others():
    first = generate.generate_tickets(seed=7, rows=50)
    assert first == generate.generate_tickets(seed=7, rows=50)
    assert first != generate.generate_tickets(seed=8, rows=50)


def test_columns_and_values_are_the_ones_intake_accepts(tickets):
    assert len(tickets) == generate.DEFAULT_ROWS
    assert tuple(tickets[0]) == generate.COLUMNS
    allowed = {
        "category": generate.CATEGORIES,
        "priority": generate.PRIORITIES,
        "customer_tier": ("free", "standard", "premium", "enterprise"),
        "channel": generate.CHANNELS,
        "stated_urgency": generate.URGENCIES,
        "impact": generate.IMPACTS,
        "language": ("pt", "en"),
    }
    for column, values in allowed.items():
        assert {t[column] for t in tickets} == set(values), column
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9]+\.example", t["requester"]) for t in tickets)
    assert all(t["subject"].strip() and t["description"].strip() for t in tickets)


def test_both_languages_in_realistic_shares_and_text_in_the_labelled_one(tickets):
    assert 0.4 <= share(tickets, lambda t: t["language"] == "pt") <= 0.6
    guesses = [(t["language"], detect_language(folded_text(t))) for t in tickets]
    decided = [(label, guess) for label, guess in guesses if guess]
    assert sum(label == guess for label, guess in decided) / len(decided) >= 0.95


def test_every_category_and_priority_present_in_unbalanced_shares(tickets):
    categories = Counter(t["category"] for t in tickets)
    assert set(categories) == set(generate.CATEGORIES)
    assert categories.most_common(1)[0][0] == "technical_support"
    assert min(categories.values()) >= 0.04 * len(tickets)
    assert max(categories.values()) >= 3 * min(categories.values())
    priorities = Counter(t["priority"] for t in tickets)
    assert set(priorities) == set(generate.PRIORITIES)
    assert min(priorities.values()) >= 0.05 * len(tickets)
    assert priorities.most_common(1)[0][0] == "low"


def test_urgent_keyword_tickets_are_mostly_urgent_or_high(tickets):
    flagged = [t for t in tickets if URGENT_WORDS.search(folded_text(t))]
    assert len(flagged) >= 200
    assert share(flagged, lambda t: t["priority"] in ("urgent", "high")) >= 0.85
    quiet = [t for t in tickets if not URGENT_WORDS.search(folded_text(t))]
    assert share(quiet, lambda t: t["priority"] in ("urgent", "high")) < 0.3


def test_customers_overstate_so_stated_urgency_is_not_the_priority(tickets):
    low = [t for t in tickets if t["priority"] == "low"]
    assert share(low, lambda t: t["stated_urgency"] in ("high", "critical")) >= 0.25
    same = {"critical": "urgent", "high": "high", "medium": "medium", "low": "low"}
    assert share(tickets, lambda t: same[t["stated_urgency"]] == t["priority"]) < 0.5
    urgent = [t for t in tickets if t["priority"] == "urgent"]
    # Still a weak signal: urgent tickets say "critical" more often than low ones.
    critical = lambda t: t["stated_urgency"] == "critical"  # noqa: E731
    assert share(urgent, critical) > share(low, critical)


def test_impact_widens_with_priority(tickets):
    def wide(priority: str) -> float:
        rows = [t for t in tickets if t["priority"] == priority]
        return share(rows, lambda t: t["impact"] in ("department", "organization"))

    assert wide("urgent") > wide("high") > wide("medium") > wide("low")


def test_a_few_dozen_customers_each_with_one_tier(tickets):
    tiers: dict[str, set[str]] = {}
    for t in tickets:
        tiers.setdefault(t["customer"], set()).add(t["customer_tier"])
    assert 20 <= len(tiers) <= 60
    assert all(len(found) == 1 for found in tiers.values())


def test_text_is_varied_and_written_like_real_users(tickets):
    texts = [(t["subject"], t["description"]) for t in tickets]
    assert len(set(texts)) >= 0.98 * len(texts)
    assert len({t["subject"] for t in tickets}) >= 0.4 * len(tickets)
    pt = [t for t in tickets if t["language"] == "pt"]
    assert share(pt, lambda t: re.search(r"\bnao\b", t["description"])) >= 0.03
    assert share(tickets, lambda t: "!!" in t["description"]) >= 0.02
    assert share(tickets, lambda t: t["subject"].isupper()) >= 0.02
    lengths = sorted(len(t["description"]) for t in tickets)
    assert lengths[len(lengths) // 10] < 80 and lengths[-len(lengths) // 10] > 180
