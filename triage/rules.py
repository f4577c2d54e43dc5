"""Automation rules applied after the model: the model proposes, the rules dispose.

Precedence:

1. Rules run in ascending ``position``, ties broken by ``name``; disabled rules are skipped.
2. For each field (priority, category, queue) the FIRST matching rule that acts on it wins and
   later rules cannot change it; its value replaces what the model and the matrix proposed.
3. ``raise_priority`` / ``lower_priority`` move ``base_priority`` (the priority the model and the
   matrix produced) by N levels, bounded at the ends of the priority list; without a base
   priority they do nothing and do not claim the field.
4. Tags accumulate (deduplicated, in order); ``mark_review`` is OR-ed.
5. A field an agent already set (``TicketFacts.human_set``) is left alone unless the rule has
   ``override_human: true``; a rule held back this way does not claim the field.
6. A matching rule with ``stop: true`` ends evaluation after its actions.

Matching: keywords match whole words and phrases of the folded text (case, accents and
punctuation ignored: "down" does not match "download", "fora do ar" matches "FORA DO ÁR").
A regex runs on RE2 (linear time: no backreferences, no lookaround) against the folded text,
case-insensitively, with accents stripped from the pattern. Each field's text is cut at
``MAX_TEXT_CHARS`` before matching. Everything is checked by `compile_ruleset` when rules are
saved, so `evaluate` cannot fail on a rule.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, NamedTuple

import re2
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from triage.priority_matrix import IMPACTS, URGENCIES
from triage.text import fold

MAX_PATTERN_CHARS = 500
MAX_TEXT_CHARS = 20_000
MAX_LEVELS = 3
FORMAT_VERSION = 1

_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w:.-]*")
_TOKEN = re.compile(r"\w+")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False


class RuleError(ValueError):
    """A rule that cannot be saved, naming the rule and the dotted field at fault."""

    def __init__(self, rule: str | None, field: str, message: str) -> None:
        self.rule = rule
        self.field = field
        self.message = message
        where = f"rule {rule!r}" if rule else "rules"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


# --- schema -------------------------------------------------------------------------------


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _phrase(keyword: str) -> str:
    return " ".join(_TOKEN.findall(fold(keyword)))


def _nested_repetition(pattern: str) -> bool:
    """Tell whether a repeated group contains a repetition, like (a+)+ or (\\w+\\s?)*."""
    groups = [False]  # per open group: does it contain a repetition?
    closed: bool | None = None  # the group that just closed contained a repetition
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        repeat = None
        if ch == "\\":
            i += 2
        elif ch == "[":
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
        elif ch == "(":
            groups.append(False)
            i += 2 if pattern[i + 1 : i + 2] == "?" else 1
        elif ch == ")":
            inner = groups.pop() if len(groups) > 1 else False
            groups[-1] = groups[-1] or inner
            i += 1
            closed = inner
            continue
        elif ch in "*+":
            repeat, i = True, i + 1
        elif ch == "{" and (bound := re.match(r"\{(\d+)(,(\d*))?\}", pattern[i:])):
            low, comma, high = bound.group(1), bound.group(2), bound.group(3)
            unbounded = comma is not None and not high
            i += bound.end()
            if not unbounded and closed:
                closed = None  # a bounded count of a repeated group stays small
                groups[-1] = True
                continue
            # An exact count like \d{3} is fixed width, so it does not count as a repetition.
            repeat = unbounded or bool(high and int(high) > int(low))
        else:
            i += 1
        if repeat:
            if closed:
                return True
            groups[-1] = True
        closed = None
    return False


def _compile_regex(pattern: str) -> Any:
    """Compile a rule's regex for RE2, or raise ValueError saying why it is refused."""
    if not pattern.strip():
        raise ValueError("regex is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"regex is longer than {MAX_PATTERN_CHARS} characters")
    if _nested_repetition(pattern):
        raise ValueError(
            "nested repetition like (a+)+ is refused: it is slow in backtracking engines "
            "and never needed; repeat the inner part once, e.g. a+"
        )
    try:
        compiled = re2.compile(_strip_accents(pattern), _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc.args[0])
        if "perl operator" in detail and any(op in detail for op in ("(?=", "(?!", "(?<")):
            raise ValueError(f"lookahead/lookbehind is not supported ({detail})") from None
        if re.search(r"escape sequence: \\[1-9]", detail):
            raise ValueError(f"backreferences are not supported ({detail})") from None
        if "too large" in detail:
            raise ValueError("regex is too large; simplify its repetitions") from None
        raise ValueError(f"invalid regex: {detail}") from None
    if compiled.search("") is not None:
        raise ValueError("regex matches empty text, so it would match every ticket")
    return compiled


def _labels(values: list[str], what: str) -> list[str]:
    for index, value in enumerate(values):
        if not value.strip():
            raise ValueError(f"{what} {index + 1} is empty")
    return values


class Conditions(BaseModel):
    """When a rule applies; every condition given must hold (empty lists are not conditions)."""

    model_config = ConfigDict(extra="forbid")

    keywords_any: list[str] = []
    keywords_all: list[str] = []
    keywords_none: list[str] = []
    regex: str | None = None
    fields: Literal["subject", "description", "any"] = "any"
    customers: list[str] = []
    tiers: list[str] = []
    channels: list[str] = []
    stated_urgency: list[str] = []
    impact: list[str] = []
    predicted_priority: list[str] = []
    predicted_category: list[str] = []
    priority_confidence_below: float | None = Field(None, ge=0, le=1)
    priority_confidence_at_least: float | None = Field(None, ge=0, le=1)
    category_confidence_below: float | None = Field(None, ge=0, le=1)
    category_confidence_at_least: float | None = Field(None, ge=0, le=1)

    @field_validator("keywords_any", "keywords_all", "keywords_none")
    @classmethod
    def _keywords(cls, values: list[str]) -> list[str]:
        for index, keyword in enumerate(values):
            if not _phrase(keyword):
                raise ValueError(f"keyword {index + 1} ({keyword!r}) has no letters or digits")
            if len(keyword) > 200:
                raise ValueError(f"keyword {index + 1} is longer than 200 characters")
        return values

    @field_validator("regex")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile_regex(pattern)
        return pattern

    @field_validator(
        "customers",
        "tiers",
        "channels",
        "stated_urgency",
        "impact",
        "predicted_priority",
        "predicted_category",
    )
    @classmethod
    def _non_empty(cls, values: list[str]) -> list[str]:
        return _labels(values, "value")

    @field_validator("priority_confidence_at_least", "category_confidence_at_least")
    @classmethod
    def _reachable(cls, at_least: float | None, info: ValidationInfo) -> float | None:
        below = info.data.get(info.field_name.replace("_at_least", "_below"))
        if at_least is not None and below is not None and at_least >= below:
            raise ValueError(f"confidence at least {at_least} and below {below} never matches")
        return at_least

    def is_empty(self) -> bool:
        """Tell whether no condition is given (``fields`` alone is not a condition)."""
        return all(value in (None, []) for key, value in self if key != "fields")


class Actions(BaseModel):
    """What a matching rule does; at least one action."""

    model_config = ConfigDict(extra="forbid")

    set_priority: str | None = None
    # "At least this urgent": raises a less urgent base priority to it, never lowers one.
    min_priority: str | None = None
    raise_priority: int = Field(0, ge=0, le=MAX_LEVELS)
    lower_priority: int = Field(0, ge=0, le=MAX_LEVELS)
    set_category: str | None = None
    set_queue: str | None = None
    add_tags: list[str] = []
    mark_review: bool = False

    @field_validator("raise_priority", "lower_priority")
    @classmethod
    def _one_priority_action(cls, levels: int, info: ValidationInfo) -> int:
        if levels and info.data.get("set_priority") is not None:
            raise ValueError(f"set_priority and {info.field_name} cannot be used together")
        if levels and info.data.get("raise_priority"):
            raise ValueError("raise_priority and lower_priority cannot be used together")
        return levels

    @field_validator("add_tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if len(tag) > 64 or not _TAG.fullmatch(tag):
                raise ValueError(f"tag {tag!r} must be one word of letters, digits, _ : . -")
        return tags

    @model_validator(mode="after")
    def _something(self) -> Actions:
        if self.min_priority is not None and (
            self.set_priority is not None or self.raise_priority or self.lower_priority
        ):
            raise ValueError("min_priority cannot be combined with another priority action")
        moves = (
            self.set_priority,
            self.min_priority,
            self.raise_priority,
            self.lower_priority,
            self.set_category,
        )
        if not (any(moves) or self.set_queue or self.add_tags or self.mark_review):
            raise ValueError("a rule needs at least one action")
        return self


class RuleSpec(BaseModel):
    """One automation rule as stored, edited in the admin and sent through the API."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = Field("", max_length=500)
    enabled: bool = True
    position: int = Field(ge=0, le=1_000_000)
    stop: bool = False
    override_human: bool = False
    match_all: bool = False
    conditions: Conditions = Field(default_factory=Conditions, validate_default=True)
    actions: Actions

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if len(name) > 64 or not _NAME.fullmatch(name):
            raise ValueError("name must be lower-case letters and digits joined by - or _")
        return name

    @field_validator("conditions")
    @classmethod
    def _not_everything(cls, conditions: Conditions, info: ValidationInfo) -> Conditions:
        match_all = info.data.get("match_all", False)
        if conditions.is_empty() and not match_all:
            raise ValueError(
                "a rule without conditions would match every ticket; "
                "add a condition or set match_all: true"
            )
        if match_all and not conditions.is_empty():
            raise ValueError("match_all: true cannot be combined with conditions")
        return conditions


# --- compiling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFacts:
    """What rules may look at: the text, the customer context and the model's predictions."""

    subject: str
    description: str = ""
    customer: str | None = None
    tier: str | None = None
    channel: str | None = None
    stated_urgency: str | None = None
    impact: str | None = None
    predicted: Mapping[str, tuple[str, float] | None] = field(default_factory=dict)
    human_set: frozenset[str] = frozenset()


class _Ticket:
    """The facts folded once per evaluation: text per field and the keyword phrases found."""

    __slots__ = ("facts", "text", "found", "customer")

    def __init__(
        self, facts: TicketFacts, phrases: Mapping[str, tuple[tuple[str, list[str]], ...]]
    ):
        self.facts = facts
        subject = fold(facts.subject[:MAX_TEXT_CHARS])
        description = fold(facts.description[:MAX_TEXT_CHARS])
        self.text = {"subject": subject, "description": description}
        in_subject = _find_phrases(subject, phrases)
        in_description = _find_phrases(description, phrases)
        self.found = {
            "subject": in_subject,
            "description": in_description,
            "any": in_subject | in_description,
        }
        self.customer = fold(facts.customer) if facts.customer else None


def _find_phrases(text: str, phrases: Mapping[str, tuple[tuple[str, list[str]], ...]]) -> set[str]:
    tokens = _TOKEN.findall(text)
    found = set()
    for index, token in enumerate(tokens):
        for phrase, rest in phrases.get(token, ()):
            if not rest or tokens[index + 1 : index + 1 + len(rest)] == rest:
                found.add(phrase)
    return found


Check = Callable[[_Ticket], "str | None"]


@dataclass(frozen=True)
class _CompiledRule:
    spec: RuleSpec
    checks: tuple[tuple[str, Check], ...]


@dataclass(frozen=True)
class RuleSet:
    """Validated rules ready to evaluate, in evaluation order (disabled ones kept for export)."""

    specs: tuple[RuleSpec, ...]
    priorities: tuple[str, ...]
    rules: tuple[_CompiledRule, ...] = field(repr=False)
    phrases: Mapping[str, tuple[tuple[str, list[str]], ...]] = field(repr=False)
    # Rules needing a keyword are only tried when one of their keywords is in the ticket.
    gates: Mapping[str, tuple[int, ...]] = field(repr=False)
    ungated: frozenset[int] = field(repr=False)


def _as_spec(item: RuleSpec | Mapping[str, Any], index: int) -> RuleSpec:
    if isinstance(item, RuleSpec):
        item = item.model_dump()  # validate again: a spec may have been changed in place
    name = item.get("name") if isinstance(item, Mapping) else None
    rule = name if isinstance(name, str) and name else f"#{index + 1}"
    try:
        return RuleSpec.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        raise RuleError(rule, ".".join(str(part) for part in error["loc"]), message) from None


def _check_unique(specs: Sequence[RuleSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise RuleError(spec.name, "name", "another rule already has this name")
        seen.add(spec.name)


def _check_known(spec: RuleSpec, where: str, values: Iterable[str | None], known: Any) -> None:
    if known is None:
        return
    for value in values:
        if value is not None and value not in known:
            names = known if isinstance(known, Sequence) else sorted(known)
            raise RuleError(spec.name, where, f"unknown {value!r}; known: {', '.join(names)}")


def compile_ruleset(
    specs: Iterable[RuleSpec | Mapping[str, Any]],
    *,
    priorities: Sequence[str],
    queues: Collection[str],
    categories: Collection[str] | None = None,
    tiers: Collection[str] | None = None,
    channels: Collection[str] | None = None,
) -> RuleSet:
    """Validate rules against the team's names and compile them; RuleError names the first fault."""
    priorities = tuple(priorities)
    if not priorities or len(set(priorities)) != len(priorities):
        raise ValueError("priorities must be distinct names, most urgent first")
    parsed = [_as_spec(item, index) for index, item in enumerate(specs)]
    _check_unique(parsed)
    for spec in parsed:
        c, a = spec.conditions, spec.actions
        _check_known(spec, "conditions.tiers", c.tiers, tiers)
        _check_known(spec, "conditions.channels", c.channels, channels)
        _check_known(spec, "conditions.stated_urgency", c.stated_urgency, URGENCIES)
        _check_known(spec, "conditions.impact", c.impact, IMPACTS)
        _check_known(spec, "conditions.predicted_priority", c.predicted_priority, priorities)
        _check_known(spec, "conditions.predicted_category", c.predicted_category, categories)
        _check_known(spec, "actions.set_priority", [a.set_priority], priorities)
        _check_known(spec, "actions.min_priority", [a.min_priority], priorities)
        _check_known(spec, "actions.set_category", [a.set_category], categories)
        _check_known(spec, "actions.set_queue", [a.set_queue], queues)
    ordered = tuple(sorted(parsed, key=lambda spec: (spec.position, spec.name)))
    enabled = [spec for spec in ordered if spec.enabled]
    gates: dict[str, list[int]] = {}
    ungated = set()
    for index, spec in enumerate(enabled):
        needed = spec.conditions.keywords_any or spec.conditions.keywords_all
        if not needed:
            ungated.add(index)
        for keyword in needed:
            gates.setdefault(_phrase(keyword), []).append(index)
    return RuleSet(
        specs=ordered,
        priorities=priorities,
        rules=tuple(_CompiledRule(spec, _compile_checks(spec)) for spec in enabled),
        phrases=_phrase_index(enabled),
        gates={phrase: tuple(indexes) for phrase, indexes in gates.items()},
        ungated=frozenset(ungated),
    )


def _phrase_index(specs: Iterable[RuleSpec]) -> dict[str, tuple[tuple[str, list[str]], ...]]:
    by_first: dict[str, set[str]] = {}
    for spec in specs:
        c = spec.conditions
        for keyword in (*c.keywords_any, *c.keywords_all, *c.keywords_none):
            phrase = _phrase(keyword)
            by_first.setdefault(phrase.split(" ")[0], set()).add(phrase)
    return {
        first: tuple((phrase, phrase.split(" ")[1:]) for phrase in sorted(phrases))
        for first, phrases in by_first.items()
    }


def _compile_checks(spec: RuleSpec) -> tuple[tuple[str, Check], ...]:
    """Turn conditions into (name, check) pairs, cheapest first; a check returns what matched."""
    c = spec.conditions
    checks: list[tuple[str, Check]] = []
    if spec.match_all:
        checks.append(("match_all", lambda ticket: "every ticket"))
    if c.customers:
        customers = frozenset(fold(name) for name in c.customers)
        checks.append(("customers", _customer_in(customers)))
    for name, attribute in (
        ("tiers", "tier"),
        ("channels", "channel"),
        ("stated_urgency", "stated_urgency"),
        ("impact", "impact"),
    ):
        if values := getattr(c, name):
            checks.append((name, _fact_in(attribute, frozenset(values))))
    for target in ("priority", "category"):
        if labels := getattr(c, f"predicted_{target}"):
            checks.append((f"predicted_{target}", _predicted_in(target, frozenset(labels))))
        if (below := getattr(c, f"{target}_confidence_below")) is not None:
            checks.append((f"{target}_confidence_below", _confidence(target, below, below=True)))
        if (at_least := getattr(c, f"{target}_confidence_at_least")) is not None:
            checks.append(
                (f"{target}_confidence_at_least", _confidence(target, at_least, below=False))
            )
    for name, mode in (("keywords_any", "any"), ("keywords_all", "all"), ("keywords_none", "none")):
        if keywords := getattr(c, name):
            checks.append((name, _keywords(keywords, mode, c.fields)))
    if c.regex is not None:
        checks.append(("regex", _regex(_compile_regex(c.regex), c.fields)))
    return tuple(checks)


def _fact_in(attribute: str, values: frozenset[str]) -> Check:
    def check(ticket: _Ticket) -> str | None:
        value = getattr(ticket.facts, attribute)
        return value if value in values else None

    return check


def _customer_in(customers: frozenset[str]) -> Check:
    def check(ticket: _Ticket) -> str | None:
        return ticket.facts.customer if ticket.customer in customers else None

    return check


def _predicted_in(target: str, labels: frozenset[str]) -> Check:
    def check(ticket: _Ticket) -> str | None:
        predicted = ticket.facts.predicted.get(target)
        if predicted is None or predicted[0] not in labels:
            return None
        return f"{predicted[0]} ({predicted[1]:.2f})"

    return check


def _confidence(target: str, limit: float, *, below: bool) -> Check:
    def check(ticket: _Ticket) -> str | None:
        predicted = ticket.facts.predicted.get(target)
        if predicted is None or (predicted[1] < limit) != below:
            return None
        return f"{predicted[0]} ({predicted[1]:.2f})"

    return check


def _keywords(keywords: list[str], mode: str, where: str) -> Check:
    shown = {_phrase(keyword): keyword for keyword in keywords}
    wanted = frozenset(shown)

    def check(ticket: _Ticket) -> str | None:
        found = ticket.found[where]
        if mode == "none":
            return None if not found.isdisjoint(wanted) else "none present"
        hits = wanted & found
        if not hits or (mode == "all" and len(hits) < len(wanted)):
            return None
        return ", ".join(shown[phrase] for phrase in sorted(hits))

    return check


def _regex(pattern: Any, where: str) -> Check:
    targets = ("subject", "description") if where == "any" else (where,)

    def check(ticket: _Ticket) -> str | None:
        for target in targets:
            match = pattern.search(ticket.text[target])
            if match is not None:
                return match.group(0)[:80]
        return None

    return check


# --- evaluating ---------------------------------------------------------------------------


class FieldOutcome(NamedTuple):
    """A field value set by a rule, with the rule's name as its source."""

    value: str
    rule: str


@dataclass(frozen=True)
class FiredRule:
    """A rule that matched: what matched, what it changed and what it could not change."""

    name: str
    matched: tuple[str, ...]  # "condition: what matched", e.g. "keywords_any: fora do ar"
    applied: tuple[str, ...]
    skipped: tuple[str, ...]
    stopped: bool


@dataclass(frozen=True)
class RuleOutcome:
    """What the rules decided for one ticket; None fields are left to the model and matrix."""

    priority: FieldOutcome | None
    category: FieldOutcome | None
    queue: FieldOutcome | None
    tags: tuple[str, ...]
    needs_review: bool
    review_rules: tuple[str, ...]
    fired: tuple[FiredRule, ...]


def evaluate(ruleset: RuleSet, facts: TicketFacts, *, base_priority: str | None) -> RuleOutcome:
    """Run the rules over one ticket with the precedence stated in the module docstring."""
    if base_priority is not None and base_priority not in ruleset.priorities:
        raise ValueError(f"unknown base priority {base_priority!r}")
    ticket = _Ticket(facts, ruleset.phrases)
    decided: dict[str, FieldOutcome] = {}
    tags: dict[str, None] = {}
    review: list[str] = []
    fired: list[FiredRule] = []
    candidates = set(ruleset.ungated)
    for phrase in ticket.found["any"]:
        candidates.update(ruleset.gates.get(phrase, ()))
    for index in sorted(candidates):
        rule = ruleset.rules[index]
        matched = []
        for name, check in rule.checks:
            detail = check(ticket)
            if detail is None:
                break
            matched.append(f"{name}: {detail}")
        else:
            spec = rule.spec
            applied, skipped = _apply(spec, facts, ruleset.priorities, base_priority, decided)
            for tag in spec.actions.add_tags:
                tags.setdefault(tag)
            if spec.actions.mark_review:
                review.append(spec.name)
            fired.append(FiredRule(spec.name, tuple(matched), applied, skipped, spec.stop))
            if spec.stop:
                break
    return RuleOutcome(
        priority=decided.get("priority"),
        category=decided.get("category"),
        queue=decided.get("queue"),
        tags=tuple(tags),
        needs_review=bool(review),
        review_rules=tuple(review),
        fired=tuple(fired),
    )


def _apply(
    spec: RuleSpec,
    facts: TicketFacts,
    priorities: tuple[str, ...],
    base_priority: str | None,
    decided: dict[str, FieldOutcome],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    actions = spec.actions
    proposed: list[tuple[str, str, str]] = []  # field, value, how
    skipped: list[str] = []
    if actions.set_priority is not None:
        proposed.append(("priority", actions.set_priority, ""))
    elif actions.min_priority is not None:
        floor = priorities.index(actions.min_priority)
        if base_priority is not None and priorities.index(base_priority) <= floor:
            skipped.append(f"priority: {base_priority} is already at least {actions.min_priority}")
        else:
            proposed.append(
                ("priority", actions.min_priority, f" (at least, from {base_priority})")
            )
    elif actions.raise_priority or actions.lower_priority:
        if base_priority is None:
            skipped.append("priority: no base priority to move")
        else:
            index = (
                priorities.index(base_priority) - actions.raise_priority + actions.lower_priority
            )
            value = priorities[min(max(index, 0), len(priorities) - 1)]
            verb = "raised" if actions.raise_priority else "lowered"
            levels = actions.raise_priority or actions.lower_priority
            proposed.append(("priority", value, f" ({verb} {levels} from {base_priority})"))
    if actions.set_category is not None:
        proposed.append(("category", actions.set_category, ""))
    if actions.set_queue is not None:
        proposed.append(("queue", actions.set_queue, ""))
    applied: list[str] = []
    for name, value, how in proposed:
        if name in decided:
            skipped.append(f"{name}: already set by rule {decided[name].rule}")
        elif name in facts.human_set and not spec.override_human:
            skipped.append(f"{name}: set by an agent")
        else:
            decided[name] = FieldOutcome(value, spec.name)
            applied.append(f"{name}={value}{how}")
    if actions.add_tags:
        applied.append("tags+=" + ",".join(actions.add_tags))
    if actions.mark_review:
        applied.append("mark_review")
    return tuple(applied), tuple(skipped)


# --- import and export --------------------------------------------------------------------


def export_rules(
    specs: Iterable[RuleSpec | Mapping[str, Any]], fmt: Literal["yaml", "json"] = "yaml"
) -> str:
    """Serialise rules as ``{version: 1, rules: [...]}`` in YAML or JSON, leaving out defaults."""
    parsed = [_as_spec(item, index) for index, item in enumerate(specs)]
    data = {
        "version": FORMAT_VERSION,
        "rules": [spec.model_dump(mode="json", exclude_defaults=True) for spec in parsed],
    }
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise ValueError(f"unknown format {fmt!r}; use 'yaml' or 'json'")


def import_rules(text: str, fmt: Literal["yaml", "json"] = "yaml") -> list[RuleSpec]:
    """Parse rules written by `export_rules`; RuleError names the rule and field at fault."""
    try:
        if fmt == "json":
            data = json.loads(text)
        elif fmt == "yaml":
            data = yaml.safe_load(text)
        else:
            raise ValueError(f"unknown format {fmt!r}; use 'yaml' or 'json'")
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise RuleError(None, "", f"not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(None, "rules", "expected a mapping with a 'rules' list")
    for key in data:
        if key not in ("version", "rules"):
            raise RuleError(None, str(key), "unknown key")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise RuleError(None, "version", f"unsupported version; expected {FORMAT_VERSION}")
    specs = [_as_spec(item, index) for index, item in enumerate(data["rules"])]
    _check_unique(specs)
    return specs


def load_default_rules() -> list[RuleSpec]:
    """Return the bilingual rule set a team gets on first run."""
    text = resources.files("triage").joinpath("default_rules.yaml").read_text(encoding="utf-8")
    return import_rules(text, "yaml")
