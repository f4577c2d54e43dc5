"""Defaults a team gets on first run: queues, categories, priorities, calendars, SLA, rules."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.priority_matrix import default_matrix
from triage.rules import import_rules
from triage.rules_store import write_spec
from triage.tables import (
    BusinessCalendarRow,
    Category,
    Priority,
    Queue,
    Rule,
    Setting,
    SlaPolicy,
    Tier,
)

QUEUES = [
    # name, title, description, is_triage
    ("support", "Suporte técnico / Technical support", "Falhas, erros e indisponibilidade.", False),
    ("billing", "Financeiro / Billing", "Cobranças, pagamentos, notas fiscais.", False),
    ("accounts", "Contas e acesso / Accounts", "Login, senhas, permissões.", False),
    ("security", "Segurança / Security", "Incidentes, vazamentos, acessos suspeitos.", False),
    ("customer_care", "Atendimento / Customer care", "Dúvidas e sugestões.", False),
    ("triage", "Triagem / Triage", "Decisões que precisam de um humano.", True),
]
CATEGORIES = [
    ("technical_support", "Suporte técnico / Technical support", "support"),
    ("billing", "Financeiro / Billing", "billing"),
    ("account_access", "Conta e acesso / Account access", "accounts"),
    ("security", "Segurança / Security", "security"),
    ("product_question", "Dúvida sobre o produto / Product question", "customer_care"),
    ("feature_request", "Sugestão / Feature request", "customer_care"),
]
PRIORITIES = [
    ("urgent", "Urgente / Urgent", 0),
    ("high", "Alta / High", 1),
    ("medium", "Média / Medium", 2),
    ("low", "Baixa / Low", 3),
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
CALENDARS = [
    # name, timezone, hours, holiday country
    (
        "Horário comercial (São Paulo)",
        "America/Sao_Paulo",
        {day: [["09:00", "18:00"]] for day in WEEKDAYS},
        "BR",
    ),
    ("24x7", "UTC", {day: [["00:00", "24:00"]] for day in (*WEEKDAYS, "sat", "sun")}, None),
]
# priority, tier, first response minutes, resolution minutes, calendar
POLICIES = [
    ("urgent", None, 30, 4 * 60, "24x7"),
    ("urgent", Tier.ENTERPRISE, 15, 2 * 60, "24x7"),
    ("high", None, 2 * 60, 16 * 60, "Horário comercial (São Paulo)"),
    ("high", Tier.ENTERPRISE, 60, 8 * 60, "Horário comercial (São Paulo)"),
    ("medium", None, 4 * 60, 27 * 60, "Horário comercial (São Paulo)"),
    ("low", None, 9 * 60, 81 * 60, "Horário comercial (São Paulo)"),
]


def seed_defaults(s: Session) -> list[str]:
    """Insert whatever default configuration is missing; returns what was added."""
    added: list[str] = []
    for name, title, rank in PRIORITIES:
        if s.scalar(select(Priority.id).where(Priority.name == name)) is None:
            s.add(Priority(name=name, title=title, rank=rank))
            added.append(f"priority {name}")
    calendars: dict[str, BusinessCalendarRow] = {}
    for name, tz, hours, country in CALENDARS:
        row = s.scalar(select(BusinessCalendarRow).where(BusinessCalendarRow.name == name))
        if row is None:
            row = BusinessCalendarRow(
                name=name, timezone=tz, hours=hours, holiday_country=country, custom_holidays=[]
            )
            s.add(row)
            added.append(f"calendar {name}")
        calendars[name] = row
    queues: dict[str, Queue] = {}
    for name, title, description, is_triage in QUEUES:
        row = s.scalar(select(Queue).where(Queue.name == name))
        if row is None:
            row = Queue(name=name, title=title, description=description, is_triage=is_triage)
            s.add(row)
            added.append(f"queue {name}")
        queues[name] = row
    s.flush()
    for name, title, queue in CATEGORIES:
        if s.scalar(select(Category.id).where(Category.name == name)) is None:
            s.add(Category(name=name, title=title, queue=queues[queue]))
            added.append(f"category {name}")
    for priority, tier, first, resolution, calendar in POLICIES:
        exists = s.scalar(
            select(SlaPolicy.id).where(SlaPolicy.priority == priority, SlaPolicy.tier == tier)
        )
        if exists is None:
            name = f"{priority}" + (f" ({tier.value})" if tier else "")
            s.add(
                SlaPolicy(
                    name=name,
                    priority=priority,
                    tier=tier,
                    first_response_minutes=first,
                    resolution_minutes=resolution,
                    at_risk_fraction=0.75,
                    calendar=calendars[calendar],
                    escalation={},
                )
            )
            added.append(f"SLA policy {name}")
    if s.get(Setting, "priority_matrix") is None:
        s.add(Setting(key="priority_matrix", value=default_matrix().model_dump(mode="json")))
        added.append("priority matrix")
    if s.scalar(select(Rule.id).limit(1)) is None:
        text = resources.files("triage").joinpath("default_rules.yaml").read_text("utf-8")
        for spec in import_rules(text, "yaml"):
            s.add(write_spec(Rule(), spec))
            added.append(f"rule {spec.name}")
    s.flush()
    return added
