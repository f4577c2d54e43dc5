"""Rules in the admin: edit one as YAML, try it on a sample text, replay it on recent tickets."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml
from flask import abort, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import ValidationError
from sqlalchemy import select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from admin.security import RoleBaseView, admin_session
from admin.tickets import catalog_now
from triage import rules_store
from triage.catalog import Catalog
from triage.decision import TicketFacts, decide, predict_all
from triage.rules import RuleError, RuleSpec
from triage.tables import Role, Rule, Ticket, utcnow

REPLAY_MAX = 1000
EXAMPLE = """name: printer-down
description: Printers that stop everyone are urgent
position: 50
conditions:
  keywords_any: ["impressora parada", "printer down"]
actions:
  set_priority: urgent
"""


class RuleForm(FlaskForm):
    """One rule as YAML, plus the sample ticket and replay size used to try it."""

    spec = TextAreaField(_l("Rule (YAML)"), validators=[DataRequired(), Length(max=20_000)])
    subject = StringField(_l("Sample subject"), validators=[Length(max=300)])
    description = TextAreaField(_l("Sample description"), validators=[Length(max=20_000)])
    tier = StringField(_l("Customer tier"), validators=[Length(max=20)])
    replay = IntegerField(
        _l("Replay on the last N tickets"),
        default=200,
        validators=[NumberRange(min=0, max=REPLAY_MAX)],
    )


def parse_spec(text: str) -> RuleSpec:
    """Read a rule from YAML; ValueError with a readable message when it is not one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("a rule is a mapping with name, conditions and actions")
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from exc


def with_rule(s: Any, catalog: Catalog, spec: RuleSpec, *, replacing: str | None) -> Catalog:
    """Return the catalog as it would be with spec saved (RuleError if the set is invalid)."""
    others = [r for r in rules_store.current_rules(s) if r.name not in (spec.name, replacing)]
    return dataclasses.replace(catalog, ruleset=rules_store.validate_rules(s, [*others, spec]))


def _models_and_thresholds() -> tuple[Any, dict[str, float]]:
    from flask import current_app

    state = current_app.extensions["triage"]
    return state.models.current(admin_session()), state.thresholds


def try_rule(candidate: Catalog, facts: TicketFacts) -> Any:
    """Return the decision for a sample ticket with the candidate rules and the served model."""
    models, thresholds = _models_and_thresholds()
    return decide(facts, catalog=candidate, models=models, thresholds=thresholds, now=utcnow())


def replay(s: Any, current: Catalog, candidate: Catalog, n: int) -> dict[str, Any]:
    """Decide the last n tickets under both rule sets and count those whose outcome differs."""
    models, thresholds = _models_and_thresholds()
    now = utcnow()
    rows = s.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(n))
    changed: list[dict[str, Any]] = []
    total = 0
    for t in rows:
        total += 1
        facts = TicketFacts(
            subject=t.subject,
            description=t.description,
            customer=t.customer.name if t.customer_id and t.customer else None,
            tier=t.customer_tier.value if t.customer_tier else None,
            channel=t.channel.value,
            stated_urgency=t.stated_urgency.value if t.stated_urgency else None,
            impact=t.impact.value if t.impact else None,
            language=t.language,
        )
        preds = predict_all(models, facts)
        kw = {"models": models, "thresholds": thresholds, "now": now, "predictions": preds}
        before = decide(facts, catalog=current, **kw)
        after = decide(facts, catalog=candidate, **kw)
        diff = {
            name: (old, new)
            for name, old, new in (
                ("priority", before.priority.value, after.priority.value),
                ("category", before.category.value, after.category.value),
                ("queue", before.queue.name, after.queue.name),
            )
            if old != new
        }
        if diff:
            changed.append({"id": t.id, "subject": t.subject, "diff": diff})
    return {"total": total, "changed": changed}


class RuleView(RoleBaseView):
    """List rules; create, edit, try and replay one (admins only)."""

    roles = (Role.ADMIN,)

    @expose("/")
    def index_view(self) -> Any:
        """List the rules in evaluation order."""
        rows = admin_session().scalars(select(Rule).order_by(Rule.position, Rule.name)).all()
        return self.render("admin_triage/rule_list.html", rows=rows)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self) -> Any:
        """Edit a rule (?name=) or a new one: "try" shows decision and replay, "save" stores."""
        s = admin_session()
        name = request.args.get("name", "")
        row = s.scalar(select(Rule).where(Rule.name == name)) if name else None
        if name and row is None:
            abort(404)
        form = RuleForm()
        if request.method == "GET":
            if row is not None:
                from triage.catalog import rule_spec

                data = rule_spec(row).model_dump(mode="json", exclude_defaults=True)
                form.spec.data = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
            else:
                form.spec.data = EXAMPLE
        result: dict[str, Any] = {}
        status = 200
        if request.method == "POST":
            if not form.validate_on_submit():
                status = 400
            else:
                try:
                    spec = parse_spec(form.spec.data)
                    catalog = catalog_now(s)
                    candidate = with_rule(s, catalog, spec, replacing=name or None)
                    if request.form.get("action") == "save":
                        if row is not None and row.name != spec.name:
                            s.delete(row)
                            s.flush()
                        rules_store.save_rule(s, spec)
                        s.commit()
                        flash(_("Rule %(name)s saved.", name=spec.name), "success")
                        return redirect(url_for(".index_view"))
                    if form.subject.data or form.description.data:
                        facts = TicketFacts(
                            subject=form.subject.data or "",
                            description=form.description.data or "",
                            tier=form.tier.data or None,
                        )
                        result["decision"] = try_rule(candidate, facts)
                    if form.replay.data:
                        result["replay"] = replay(s, catalog, candidate, form.replay.data)
                except (ValueError, RuleError) as exc:
                    s.rollback()
                    form.spec.errors = [str(exc)]
                    status = 422
        return self.render(
            "admin_triage/rule_edit.html", form=form, name=name, result=result
        ), status

    @expose("/delete/", methods=("POST",))
    def delete_view(self) -> Any:
        """Delete a rule by name (CSRF-checked)."""
        form = FlaskForm()
        if not form.validate_on_submit():
            abort(400)
        s = admin_session()
        row = s.scalar(select(Rule).where(Rule.name == request.form.get("name", "")))
        if row is None:
            abort(404)
        s.delete(row)
        s.commit()
        flash(_("Rule %(name)s deleted.", name=row.name), "success")
        return redirect(url_for(".index_view"))


def add_views(admin: Admin, category: Any) -> None:
    """Add the rule views to admin."""
    admin.add_view(RuleView(name=_l("Rules"), category=category, endpoint="rules", url="rules"))
