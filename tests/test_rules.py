import json

import pytest

from triage.rules import (
    MAX_TEXT_CHARS,
    RuleError,
    RuleSpec,
    TicketFacts,
    compile_ruleset,
    evaluate,
    export_rules,
    import_rules,
    load_default_rules,
)

PRIORITIES = ["urgent", "high", "medium", "low"]
QUEUES = {"support", "billing", "accounts", "security", "customer_care", "triage"}
CATEGORIES = {
    "technical_support",
    "billing",
    "account_access",
    "security",
    "product_question",
    "feature_request",
}
TIERS = {"free", "standard", "premium", "enterprise"}
CHANNELS = {"email", "web", "phone", "chat", "api"}


def rule(name="r", position=10, actions=None, **conditions):
    """A rule as the admin or API would send it."""
    spec = {"name": name, "position": position, "actions": actions or {"add_tags": ["hit"]}}
    if conditions.pop("match_all", False):
        spec["match_all"] = True
    spec["conditions"] = conditions
    return spec


def ruleset(*rules):
    return compile_ruleset(
        rules,
        priorities=PRIORITIES,
        queues=QUEUES,
        categories=CATEGORIES,
        tiers=TIERS,
        channels=CHANNELS,
    )


def run(rules, base="medium", subject="", description="", **facts):
    return evaluate(
        rules,
        TicketFacts(subject=subject, description=description, **facts),
        base_priority=base,
    )


# --- conditions ---------------------------------------------------------------------------

CONDITION_CASES = [
    # keywords: case, accents and punctuation ignored, whole words only
    ("pt-upper", {"keywords_any": ["fora do ar"]}, {"subject": "O sistema está FORA DO AR"}, True),
    ("pt-accent-text", {"keywords_any": ["fora do ar"]}, {"subject": "fora do ár"}, True),
    ("pt-accent-kw", {"keywords_any": ["indisponível"]}, {"subject": "site indisponivel"}, True),
    ("pt-no-accent-kw", {"keywords_any": ["indisponivel"]}, {"subject": "INDISPONÍVEL"}, True),
    ("en-case", {"keywords_any": ["outage"]}, {"subject": "Major OUTAGE in EU"}, True),
    ("whole-word", {"keywords_any": ["down"]}, {"subject": "cannot download the invoice"}, False),
    ("word-punct", {"keywords_any": ["down"]}, {"subject": "Site down!!"}, True),
    ("phrase-spaces", {"keywords_any": ["is down"]}, {"subject": "site is\n   down."}, True),
    ("phrase-order", {"keywords_any": ["fora do ar"]}, {"subject": "ar fora do lugar"}, False),
    ("phrase-partial", {"keywords_any": ["fora do ar"]}, {"subject": "fora do arquivo"}, False),
    ("all-yes", {"keywords_all": ["boleto", "vencido"]}, {"subject": "Boleto VENCIDO"}, True),
    ("all-no", {"keywords_all": ["boleto", "vencido"]}, {"subject": "boleto pago"}, False),
    (
        "none-blocks",
        {"keywords_any": ["senha"], "keywords_none": ["como faço"]},
        {"subject": "Como faco para trocar a senha?"},
        False,
    ),
    (
        "none-absent",
        {"keywords_any": ["senha"], "keywords_none": ["como faço"]},
        {"subject": "Senha bloqueada"},
        True,
    ),
    # which fields are searched
    (
        "subject-only",
        {"keywords_any": ["urgente"], "fields": "subject"},
        {"subject": "ajuda", "description": "urgente"},
        False,
    ),
    (
        "description-only",
        {"keywords_any": ["urgente"], "fields": "description"},
        {"subject": "ajuda", "description": "É URGENTE"},
        True,
    ),
    ("any-field", {"keywords_any": ["urgente"]}, {"subject": "x", "description": "urgente"}, True),
    # regex on folded text
    ("regex", {"regex": r"erro\s+5\d\d"}, {"subject": "Erro 503 no checkout"}, True),
    ("regex-no", {"regex": r"erro\s+5\d\d"}, {"subject": "erro 404"}, False),
    ("regex-accent", {"regex": "cobrança dupl"}, {"subject": "COBRANCA DUPLICADA"}, True),
    ("regex-case", {"regex": r"ORDER-\d+"}, {"description": "ref order-123"}, True),
    (
        "regex-field",
        {"regex": r"#\d{4}", "fields": "subject"},
        {"subject": "ajuda", "description": "pedido #1234"},
        False,
    ),
    # customer context
    ("customer", {"customers": ["ACME Ltda"]}, {"customer": "acme ltda"}, True),
    ("customer-other", {"customers": ["ACME Ltda"]}, {"customer": "Globex"}, False),
    ("customer-none", {"customers": ["ACME Ltda"]}, {}, False),
    ("tier", {"tiers": ["enterprise"]}, {"tier": "enterprise"}, True),
    ("tier-other", {"tiers": ["enterprise"]}, {"tier": "free"}, False),
    ("tier-none", {"tiers": ["enterprise"]}, {}, False),
    ("channel", {"channels": ["phone", "chat"]}, {"channel": "chat"}, True),
    ("channel-other", {"channels": ["phone"]}, {"channel": "email"}, False),
    ("urgency", {"stated_urgency": ["critical"]}, {"stated_urgency": "critical"}, True),
    ("urgency-other", {"stated_urgency": ["critical"]}, {"stated_urgency": "high"}, False),
    ("impact", {"impact": ["organization"]}, {"impact": "organization"}, True),
    ("impact-other", {"impact": ["organization"]}, {"impact": "team"}, False),
    # the model's predictions
    (
        "pred-priority",
        {"predicted_priority": ["high"]},
        {"predicted": {"priority": ("high", 0.9)}},
        True,
    ),
    (
        "pred-priority-other",
        {"predicted_priority": ["high"]},
        {"predicted": {"priority": ("low", 0.9)}},
        False,
    ),
    ("pred-none", {"predicted_priority": ["high"]}, {"predicted": {"priority": None}}, False),
    (
        "pred-category",
        {"predicted_category": ["billing"]},
        {"predicted": {"category": ("billing", 0.7)}},
        True,
    ),
    (
        "conf-below",
        {"priority_confidence_below": 0.5},
        {"predicted": {"priority": ("high", 0.3)}},
        True,
    ),
    (
        "conf-below-equal",
        {"priority_confidence_below": 0.5},
        {"predicted": {"priority": ("high", 0.5)}},
        False,
    ),
    ("conf-below-no-model", {"priority_confidence_below": 0.5}, {}, False),
    (
        "conf-at-least",
        {"priority_confidence_at_least": 0.8},
        {"predicted": {"priority": ("high", 0.8)}},
        True,
    ),
    (
        "conf-at-least-no",
        {"priority_confidence_at_least": 0.8},
        {"predicted": {"priority": ("high", 0.79)}},
        False,
    ),
    (
        "cat-conf-below",
        {"category_confidence_below": 0.5},
        {"predicted": {"category": ("billing", 0.2), "priority": ("low", 0.99)}},
        True,
    ),
    (
        "cat-conf-at-least",
        {"category_confidence_at_least": 0.9},
        {"predicted": {"category": ("billing", 0.2)}},
        False,
    ),
    # every condition given must hold
    (
        "and-yes",
        {"tiers": ["premium"], "keywords_any": ["lento"]},
        {"tier": "premium", "subject": "Sistema lento"},
        True,
    ),
    (
        "and-no",
        {"tiers": ["premium"], "keywords_any": ["lento"]},
        {"tier": "free", "subject": "Sistema lento"},
        False,
    ),
    ("match-all", {"match_all": True}, {"subject": "anything"}, True),
]


@pytest.mark.parametrize(
    ("conditions", "facts", "matches"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_condition(conditions, facts, matches):
    outcome = run(ruleset(rule(**conditions)), **facts)
    assert ("hit" in outcome.tags) is matches
    assert [fired.name for fired in outcome.fired] == (["r"] if matches else [])


def test_fired_rule_explains_what_matched():
    rules = ruleset(rule(keywords_any=["fora do ar", "outage"], tiers=["enterprise"]))
    (fired,) = run(rules, subject="Fora do ár desde 9h", tier="enterprise").fired
    assert fired.matched == ("tiers: enterprise", "keywords_any: fora do ar")
    assert fired.applied == ("tags+=hit",)


def test_text_beyond_the_cap_is_not_searched():
    rules = ruleset(rule(keywords_any=["outage"]))
    late = "x " * MAX_TEXT_CHARS + "outage"
    assert run(rules, description=late).fired == ()
    assert run(rules, subject="outage", description=late).fired != ()


# --- actions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "base", "expected"),
    [
        ({"set_priority": "urgent"}, "low", "urgent"),
        ({"set_priority": "low"}, "urgent", "low"),
        ({"set_priority": "high"}, None, "high"),
        ({"raise_priority": 1}, "medium", "high"),
        ({"raise_priority": 2}, "low", "high"),
        ({"raise_priority": 2}, "high", "urgent"),  # bounded at the top
        ({"raise_priority": 3}, "urgent", "urgent"),
        ({"lower_priority": 1}, "medium", "low"),
        ({"lower_priority": 3}, "high", "low"),  # bounded at the bottom
        ({"lower_priority": 1}, "low", "low"),
        ({"raise_priority": 1}, None, None),  # nothing to move
    ],
)
def test_priority_actions(actions, base, expected):
    outcome = run(ruleset(rule(actions=actions, match_all=True)), base=base)
    if expected is None:
        assert outcome.priority is None
        assert outcome.fired[0].skipped == ("priority: no base priority to move",)
    else:
        assert outcome.priority == (expected, "r")


def test_other_actions():
    actions = {
        "set_category": "billing",
        "set_queue": "billing",
        "add_tags": ["payment", "vip"],
        "mark_review": True,
    }
    outcome = run(ruleset(rule(actions=actions, keywords_any=["boleto"])), subject="boleto")
    assert outcome.category == ("billing", "r")
    assert outcome.queue == ("billing", "r")
    assert outcome.priority is None
    assert outcome.tags == ("payment", "vip")
    assert outcome.needs_review
    assert outcome.review_rules == ("r",)


def test_no_match_changes_nothing():
    outcome = run(ruleset(rule(keywords_any=["boleto"])), subject="Senha")
    assert (outcome.priority, outcome.category, outcome.queue) == (None, None, None)
    assert (outcome.tags, outcome.needs_review, outcome.fired) == ((), False, ())


def test_unknown_base_priority_is_a_caller_error():
    with pytest.raises(ValueError, match="base priority"):
        run(ruleset(rule(match_all=True)), base="p1")


# --- precedence ---------------------------------------------------------------------------


def test_first_rule_by_position_wins_each_field():
    rules = ruleset(
        rule("late", 20, {"set_priority": "low", "set_queue": "support"}, match_all=True),
        rule("early", 10, {"set_priority": "urgent"}, match_all=True),
    )
    outcome = run(rules)
    assert outcome.priority == ("urgent", "early")
    assert outcome.queue == ("support", "late")  # a field nobody set before is still free
    assert [fired.name for fired in outcome.fired] == ["early", "late"]
    assert outcome.fired[1].skipped == ("priority: already set by rule early",)


def test_raise_counts_as_acting_on_priority():
    rules = ruleset(
        rule("vip", 10, {"raise_priority": 1}, match_all=True),
        rule("outage", 20, {"set_priority": "urgent"}, match_all=True),
    )
    assert run(rules, base="low").priority == ("medium", "vip")


def test_position_ties_are_broken_by_name():
    rules = ruleset(
        rule("b-rule", 10, {"set_category": "billing"}, match_all=True),
        rule("a-rule", 10, {"set_category": "security"}, match_all=True),
    )
    assert run(rules).category == ("security", "a-rule")
    assert [spec.name for spec in rules.specs] == ["a-rule", "b-rule"]


def test_tags_accumulate_and_review_is_ored():
    rules = ruleset(
        rule("one", 10, {"add_tags": ["outage", "vip"], "mark_review": True}, match_all=True),
        rule("two", 20, {"add_tags": ["vip", "payment"]}, match_all=True),
        rule("three", 30, {"mark_review": True}, match_all=True),
    )
    outcome = run(rules)
    assert outcome.tags == ("outage", "vip", "payment")
    assert outcome.review_rules == ("one", "three")


@pytest.mark.parametrize(("subject", "fired"), [("outage", ["stop"]), ("other", ["after"])])
def test_stop_ends_evaluation_only_when_the_rule_matches(subject, fired):
    stop = {**rule("stop", 10, {"set_priority": "urgent"}, keywords_any=["outage"]), "stop": True}
    rules = ruleset(stop, rule("after", 20, {"add_tags": ["after"]}, match_all=True))
    outcome = run(rules, subject=subject)
    assert [f.name for f in outcome.fired] == fired
    assert outcome.fired[0].stopped is (subject == "outage")


def test_disabled_rule_is_skipped_but_kept():
    disabled = {**rule("off", 10, {"set_priority": "urgent"}, match_all=True), "enabled": False}
    rules = ruleset(disabled, rule("on", 20, {"set_priority": "low"}, match_all=True))
    assert run(rules).priority == ("low", "on")
    assert [spec.name for spec in rules.specs] == ["off", "on"]


@pytest.mark.parametrize(
    ("override", "expected_priority", "expected_category"),
    [(False, None, ("billing", "rule")), (True, ("urgent", "rule"), ("billing", "rule"))],
)
def test_agent_set_fields_are_untouched_unless_override(
    override, expected_priority, expected_category
):
    spec = rule("rule", 10, {"set_priority": "urgent", "set_category": "billing"}, match_all=True)
    spec["override_human"] = override
    outcome = run(ruleset(spec), human_set=frozenset({"priority"}))
    assert outcome.priority == expected_priority
    assert outcome.category == expected_category
    assert outcome.fired[0].skipped == (() if override else ("priority: set by an agent",))


def test_a_held_back_rule_does_not_claim_the_field():
    override = rule("override", 20, {"set_priority": "high"}, match_all=True)
    override["override_human"] = True
    rules = ruleset(rule("plain", 10, {"set_priority": "urgent"}, match_all=True), override)
    assert run(rules, human_set=frozenset({"priority"})).priority == ("high", "override")


# --- validation ---------------------------------------------------------------------------


def _with(base, **changes):
    spec = json.loads(json.dumps(base))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = spec
        for part in path:
            target = target[part]
        target[last] = value
    return spec


GOOD = rule("good-rule", 10, {"set_priority": "high"}, keywords_any=["x"])

INVALID_CASES = [
    ("bad-regex", _with(GOOD, conditions__regex="erro ("), "conditions.regex", "invalid regex"),
    (
        "catastrophic",
        _with(GOOD, conditions__regex="(a+)+$"),
        "conditions.regex",
        "nested repetition",
    ),
    (
        "catastrophic-words",
        _with(GOOD, conditions__regex=r"(\w+\s?)*$"),
        "conditions.regex",
        "nested repetition",
    ),
    ("backreference", _with(GOOD, conditions__regex=r"(a)\1"), "conditions.regex", "backref"),
    ("lookahead", _with(GOOD, conditions__regex="foo(?=bar)"), "conditions.regex", "lookahead"),
    ("long-regex", _with(GOOD, conditions__regex="a" * 501), "conditions.regex", "longer than"),
    ("empty-regex", _with(GOOD, conditions__regex="  "), "conditions.regex", "empty"),
    ("matches-all", _with(GOOD, conditions__regex="x*"), "conditions.regex", "every ticket"),
    ("empty-kw", _with(GOOD, conditions__keywords_any=["ok", " "]), "conditions.keywords_any", "2"),
    ("punct-kw", _with(GOOD, conditions__keywords_none=["!!!"]), "conditions.keywords_none", "no"),
    ("unknown-queue", _with(GOOD, actions__set_queue="sales"), "actions.set_queue", "'sales'"),
    ("unknown-prio", _with(GOOD, actions__set_priority="p1"), "actions.set_priority", "'p1'"),
    (
        "unknown-cat",
        _with(GOOD, actions__set_category="refunds"),
        "actions.set_category",
        "'refunds'",
    ),
    (
        "unknown-pred",
        _with(GOOD, conditions__predicted_priority=["critical"]),
        "conditions.predicted_priority",
        "'critical'",
    ),
    (
        "unknown-pred-cat",
        _with(GOOD, conditions__predicted_category=["refunds"]),
        "conditions.predicted_category",
        "'refunds'",
    ),
    (
        "unknown-urgency",
        _with(GOOD, conditions__stated_urgency=["urgent"]),
        "conditions.stated_urgency",
        "'urgent'",
    ),
    ("unknown-impact", _with(GOOD, conditions__impact=["world"]), "conditions.impact", "'world'"),
    ("unknown-tier", _with(GOOD, conditions__tiers=["gold"]), "conditions.tiers", "'gold'"),
    ("unknown-channel", _with(GOOD, conditions__channels=["fax"]), "conditions.channels", "'fax'"),
    ("no-conditions", {**GOOD, "conditions": {}}, "conditions", "match every ticket"),
    ("fields-only", {**GOOD, "conditions": {"fields": "subject"}}, "conditions", "match every"),
    (
        "missing-conditions",
        {k: v for k, v in GOOD.items() if k != "conditions"},
        "conditions",
        "match every",
    ),
    ("match-all-and-more", {**GOOD, "match_all": True}, "conditions", "cannot be combined"),
    (
        "set-and-raise",
        _with(GOOD, actions__raise_priority=1),
        "actions.raise_priority",
        "together",
    ),
    (
        "set-and-lower",
        _with(GOOD, actions__lower_priority=1),
        "actions.lower_priority",
        "together",
    ),
    (
        "raise-and-lower",
        {**GOOD, "actions": {"raise_priority": 1, "lower_priority": 1}},
        "actions.lower_priority",
        "together",
    ),
    ("raise-too-far", {**GOOD, "actions": {"raise_priority": 4}}, "actions.raise_priority", "3"),
    ("no-actions", {**GOOD, "actions": {}}, "actions", "at least one action"),
    ("false-actions", {**GOOD, "actions": {"mark_review": False}}, "actions", "at least one"),
    ("bad-tag", _with(GOOD, actions__add_tags=["two words"]), "actions.add_tags", "one word"),
    ("bad-name", {**GOOD, "name": "Fora do Ar"}, "name", "lower-case"),
    ("typo-field", {**GOOD, "conditons": {}}, "conditons", "Extra"),
    ("typo-condition", _with(GOOD, conditions__keyword=["x"]), "conditions.keyword", "Extra"),
    (
        "confidence-range",
        _with(GOOD, conditions__priority_confidence_below=1.5),
        "conditions.priority_confidence_below",
        "1",
    ),
    (
        "confidence-never",
        _with(
            GOOD,
            conditions__priority_confidence_below=0.5,
            conditions__priority_confidence_at_least=0.7,
        ),
        "conditions.priority_confidence_at_least",
        "never matches",
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [case[1:] for case in INVALID_CASES],
    ids=[case[0] for case in INVALID_CASES],
)
def test_invalid_rule_is_refused_naming_the_field(spec, field, message):
    other = rule("other", 5, keywords_any=["y"])
    with pytest.raises(RuleError, match=message) as caught:
        ruleset(other, spec)
    expected_rule = spec.get("name", "#2")
    assert (caught.value.rule, caught.value.field) == (expected_rule, field)
    assert str(expected_rule) in str(caught.value)


def test_duplicate_names_are_refused():
    with pytest.raises(RuleError, match="already has this name") as caught:
        ruleset(GOOD, _with(GOOD, position=20))
    assert (caught.value.rule, caught.value.field) == ("good-rule", "name")


def test_unnamed_rule_is_named_by_its_place():
    with pytest.raises(RuleError) as caught:
        ruleset(GOOD, {"position": 1})
    assert (caught.value.rule, caught.value.field) == ("#2", "name")


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)


def test_categories_are_not_checked_when_not_given():
    rules = compile_ruleset(
        [_with(GOOD, actions__set_category="anything")], priorities=PRIORITIES, queues=QUEUES
    )
    assert run(rules, subject="x").category == ("anything", "good-rule")


# --- regex safety -------------------------------------------------------------------------


def test_pathological_regex_runs_in_linear_time():
    # Exponential for a backtracking engine (Fibonacci many ways to split the a's); RE2 is
    # linear, so this finishes at once. The test suite simply has to finish.
    rules = ruleset(rule(regex="(a|aa)*c"), rule("other", 20, regex="a{1,3}b"))
    assert run(rules, subject="a" * 100_000).fired == ()
    assert run(rules, subject="a" * 100_000 + "c").fired == ()  # the text cap cuts off the "c"
    assert [f.name for f in run(rules, subject="a" * 10_000 + "c").fired] == ["r"]


@pytest.mark.parametrize(
    "pattern",
    [r"(\d{3}-)+\d{4}", r"(ab){2,5}", r"[(a+)]+", r"\(a+\)+", r"(pedido|ordem) #?\d+"],
)
def test_safe_repetitions_are_accepted(pattern):
    assert ruleset(rule(regex=pattern)).specs[0].conditions.regex == pattern


# --- import and export --------------------------------------------------------------------


ROUND_TRIP = [
    rule("outage", 10, {"set_priority": "urgent", "add_tags": ["outage"]}, keywords_any=["ár"]),
    {
        **rule("vip", 20, {"raise_priority": 1}, tiers=["enterprise"], regex=r"erro\s+\d+"),
        "description": "Clientes enterprise / enterprise customers",
        "enabled": False,
        "stop": True,
        "override_human": True,
    },
    rule("catch-all", 99, {"mark_review": True}, match_all=True),
]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_import_round_trip(fmt):
    specs = [RuleSpec.model_validate(spec) for spec in ROUND_TRIP]
    text = export_rules(specs, fmt)
    assert import_rules(text, fmt) == specs
    assert "ár" in text  # readable, not escaped
    assert "enabled: true" not in text and '"enabled": true' not in text  # defaults left out


def test_export_yaml_looks_like_the_default_file():
    text = export_rules([ROUND_TRIP[0]])
    assert text.startswith("version: 1\nrules:\n- name: outage\n")


@pytest.mark.parametrize(
    ("text", "fmt", "rule_name", "field"),
    [
        ("rules: [", "yaml", None, ""),
        ("{", "json", None, ""),
        ("- name: x", "yaml", None, "rules"),
        ("version: 2\nrules: []", "yaml", None, "version"),
        ("rules: []\nextra: 1", "yaml", None, "extra"),
        (
            "rules:\n- name: bad\n  position: 1\n  conditions: {regex: '(a+)+'}\n"
            "  actions: {mark_review: true}",
            "yaml",
            "bad",
            "conditions.regex",
        ),
        (
            "rules:\n- name: yes-no\n  position: 1\n  conditions: {keywords_any: [no]}\n"
            "  actions: {mark_review: true}",
            "yaml",
            "yes-no",
            "conditions.keywords_any.0",
        ),
        (
            json.dumps({"rules": [GOOD, GOOD]}),
            "json",
            "good-rule",
            "name",
        ),
    ],
    ids=["yaml", "json", "not-mapping", "version", "unknown-key", "regex", "yaml-bool", "dup"],
)
def test_import_errors_name_rule_and_field(text, fmt, rule_name, field):
    with pytest.raises(RuleError) as caught:
        import_rules(text, fmt)
    assert (caught.value.rule, caught.value.field) == (rule_name, field)


# --- default rules ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defaults():
    return ruleset(*load_default_rules())


def test_default_rules_survive_a_round_trip():
    specs = load_default_rules()
    assert import_rules(export_rules(specs, "json"), "json") == specs


DEFAULT_CASES = [
    # subject, facts, model priority, expected priority (None: the model's stands), tags
    ("O sistema está fora do ar", {}, "medium", "urgent", {"outage"}),
    ("SITE INDISPONÍVEL desde as 9h", {}, "low", "urgent", {"outage"}),
    ("Checkout is down for everyone", {}, "medium", "urgent", {"outage"}),
    ("Dashboard not loading", {}, "high", "urgent", {"outage"}),
    ("Não consigo fazer download da nota fiscal", {}, "low", None, set()),
    ("How do I change my password?", {}, "low", None, {"how_to"}),
    ("Como faço para exportar relatórios?", {"tier": "enterprise"}, "medium", None, {"how_to"}),
    ("Relatório com valores errados", {"tier": "enterprise"}, "high", "urgent", {"vip"}),
    ("Relatório com valores errados", {"tier": "free"}, "high", None, set()),
    ("Cobrança em duplicidade no cartão", {}, "medium", "high", {"payment"}),
    ("Payment declined again", {}, "low", "high", {"payment"}),
    ("Payment declined again", {}, "urgent", None, {"payment"}),  # never lowered
    ("Vazamento de dados de clientes", {}, "low", "urgent", {"security"}),
    ("Toda a equipe sem acesso ao e-mail", {}, "medium", "high", {"widespread"}),
    ("Sugestão: modo escuro", {}, "low", None, set()),
]


@pytest.mark.parametrize(
    ("subject", "facts", "model_priority", "expected", "tags"),
    [case[:5] for case in DEFAULT_CASES],
    ids=[f"{case[0][:30]}-{case[2]}" for case in DEFAULT_CASES],
)
def test_default_rules_on_example_tickets(defaults, subject, facts, model_priority, expected, tags):
    predicted = {"priority": (model_priority, 0.9), "category": ("technical_support", 0.9)}
    outcome = run(defaults, base=model_priority, subject=subject, predicted=predicted, **facts)
    assert (outcome.priority.value if outcome.priority else None) == expected
    assert set(outcome.tags) == tags
    assert not outcome.needs_review


def test_default_rules_route_security_and_billing(defaults):
    security = run(defaults, subject="Minha conta foi invadida", base="medium")
    assert (security.category.value, security.queue.value) == ("security", "security")
    billing = run(defaults, subject="Fui cobrado duas vezes", base="medium")
    assert (billing.category.value, billing.queue.value) == ("billing", "billing")


def test_default_rules_ask_review_when_the_model_is_unsure(defaults):
    predicted = {"priority": ("medium", 0.9), "category": ("billing", 0.3)}
    outcome = run(defaults, subject="Dúvida", predicted=predicted)
    assert outcome.needs_review
    assert outcome.review_rules == ("low-category-confidence",)
    assert outcome.priority is None


@pytest.mark.parametrize(
    ("base", "expected"),
    [("low", "high"), ("medium", "high"), ("high", None), ("urgent", None), (None, "high")],
)
def test_min_priority_raises_to_the_floor_and_never_lowers(base, expected):
    outcome = run(ruleset(rule(actions={"min_priority": "high"}, match_all=True)), base=base)
    if expected is None:
        assert outcome.priority is None  # the urgent/high base stands
        assert "already at least high" in outcome.fired[0].skipped[0]
    else:
        assert outcome.priority == (expected, "r")


def test_min_priority_that_changes_nothing_leaves_the_field_to_later_rules():
    rules = ruleset(
        rule("floor", 10, actions={"min_priority": "high"}, match_all=True),
        rule("later", 20, actions={"set_priority": "medium"}, match_all=True),
    )
    assert run(rules, base="urgent").priority == ("medium", "later")
    assert run(rules, base="low").priority == ("high", "floor")


@pytest.mark.parametrize(
    ("actions", "field"),
    [
        ({"min_priority": "high", "set_priority": "low"}, "actions"),
        ({"min_priority": "high", "raise_priority": 1}, "actions"),
        ({"min_priority": "p1"}, "actions.min_priority"),
    ],
)
def test_invalid_min_priority_is_refused(actions, field):
    with pytest.raises(RuleError) as err:
        ruleset(rule(actions=actions, match_all=True))
    assert err.value.field.startswith(field)


def test_default_payment_rule_keeps_an_urgent_ticket_urgent():
    rules = compile_ruleset(
        load_default_rules(), priorities=PRIORITIES, queues=QUEUES, categories=CATEGORIES
    )
    text = "Pagamento recusado em todas as lojas, toda a operação parada"
    low = run(rules, base="low", subject="Cobrança em duplicidade no cartão")
    assert low.priority.value == "high"
    urgent = run(rules, base="urgent", subject=text)
    assert urgent.priority is None or urgent.priority.value == "urgent"
