"""Model versions and training jobs in the admin: read the metrics, then train, activate,
shadow or roll back, each a confirmed, CSRF-checked POST calling the same domain functions as the
CLI."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional

from admin import charts
from admin.security import RoleBaseView, admin_session, current_actor
from triage import jobs, model_store, monitoring, versions
from triage.serving import active_versions
from triage.tables import Job, JobState, ModelStatus, ModelVersion, Role, utcnow

DATA_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.DATA_STAFF)
CATEGORY = _l("Models")


class ConfirmForm(FlaskForm):
    """A POST that changes what serves: it needs the CSRF token and a ticked confirmation."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    confirm = BooleanField(
        _l("I understand what this changes"),
        validators=[DataRequired(message=_l("Tick the confirmation box to go on."))],
    )


class ActivateForm(ConfirmForm):
    """Activation, with the force switch for a candidate the gate refused."""

    force = BooleanField(_l("Activate although the gate refuses it"))


class TrainForm(ConfirmForm):
    """Training on agents' labels, with or without the configured base data."""

    base_data = BooleanField(_l("Also train on the base data set"), default=True)


def headline(row: ModelVersion) -> dict[str, float | None]:
    """Return the held-out macro-F1 of each target of a version."""
    metrics = row.metrics or {}
    return {t: (metrics.get(t) or {}).get("macro_f1") for t in row.targets}


def per_class_changes(
    row: ModelVersion, active: dict[str, str | None], s: Any
) -> dict[str, dict[str, Any]]:
    """Return per target the per-class F1 of this version beside the active one's.

    The gate's figures (both versions on the same labelled tickets) come first; without them
    the held-out figures of the two manifests are compared, which come from different splits.
    """
    gate_targets = (row.gate or {}).get("targets") or {}
    changes: dict[str, dict[str, Any]] = {}
    for target in row.targets:
        base_version = active.get(target)
        if not base_version or base_version == row.version:
            continue
        from_gate = (gate_targets.get(target) or {}).get("per_class")
        if from_gate and (gate_targets[target].get("active_version") == base_version):
            rows = [
                {
                    "label": label,
                    "active": c.get("active_f1"),
                    "candidate": c.get("candidate_f1"),
                    "delta": c.get("delta_f1"),
                }
                for label, c in from_gate.items()
            ]
            source = "gate"
        else:
            base = s.scalar(
                select(ModelVersion.metrics).where(ModelVersion.version == base_version)
            )
            mine = ((row.metrics or {}).get(target) or {}).get("per_class") or {}
            theirs = ((base or {}).get(target) or {}).get("per_class") or {}
            rows = []
            for label in sorted(set(mine) | set(theirs)):
                new = (mine.get(label) or {}).get("f1")
                old = (theirs.get(label) or {}).get("f1")
                delta = None if new is None or old is None else new - old
                rows.append({"label": label, "active": old, "candidate": new, "delta": delta})
            source = "held_out"
        rows.sort(key=lambda r: (r["delta"] is None, r["delta"] or 0.0))
        changes[target] = {"source": source, "rows": rows, "active": base_version}
    return changes


def correction_chart(stats: dict[str, Any], target: str) -> Any:
    """Return the correction rate per day of one target of a version as an SVG line chart."""
    points = [(str(d["day"])[5:], d.get("correction_rate")) for d in stats.get("by_day") or []]
    return charts.line_svg(points, title=_("%(t)s: correction rate per day", t=target))


class ModelVersionsView(RoleBaseView):
    """Model versions: list, detail with metrics and pictures, and the serving actions."""

    roles = DATA_ROLES

    def _row(self, version: str) -> ModelVersion:
        if not model_store.is_version_id(version):
            abort(404)
        try:
            return versions.get_version(admin_session(), version)
        except versions.VersionError:
            abort(404)

    @expose("/")
    def index(self) -> str:
        """List every version, newest first, with what serves now."""
        s = admin_session()
        rows = s.scalars(
            select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
        ).all()
        return self.render(
            "admin_models/list.html",
            rows=rows,
            headline=headline,
            active=active_versions(s),
            can_roll_back=any(r.status == ModelStatus.RETIRED for r in rows),
        )

    @expose("/<version>")
    def detail(self, version: str) -> str:
        """Show a version's manifest, metrics, gate verdict and how it did in production."""
        s = admin_session()
        row = self._row(version)
        active = active_versions(s)
        stats = monitoring.version_stats(s, row.version, list(row.targets))
        return self.render(
            "admin_models/detail.html",
            row=row,
            manifest=row.manifest or {},
            metrics=row.metrics or {},
            gate=row.gate or {},
            active=active,
            changes=per_class_changes(row, active, s),
            stats=stats["targets"],
            charts={t: correction_chart(st, t) for t, st in stats["targets"].items()},
            agreement=stats["shadow"],
            headline=headline(row),
        )

    @expose("/<version>/confusion/<target>.svg")
    def confusion(self, version: str, target: str) -> Response:
        """Serve a target's held-out confusion matrix as an SVG picture."""
        row = self._row(version)
        metrics = (row.metrics or {}).get(target)
        if target not in row.targets or not metrics or "confusion" not in metrics:
            abort(404)
        svg = charts.confusion_svg(
            [str(x) for x in metrics["confusion"]["labels"]],
            metrics["confusion"]["matrix"],
            title=f"{target} — {row.version}",
        )
        response = Response(str(svg), mimetype="image/svg+xml")
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    def _confirmed(self, form: ConfirmForm) -> bool:
        """Validate a submitted action form; say what is missing otherwise."""
        if request.method != "POST":
            return False
        if form.validate():
            return True
        if form.csrf_token.errors:
            flash(_("The form expired or was not sent from this site; please try again."), "error")
        return False

    def _action_page(self, template: str, form: ConfirmForm, status: int, **ctx: Any) -> Any:
        code = status if request.method == "POST" else 200
        return self.render(template, form=form, **ctx), code

    @expose("/<version>/activate", methods=("GET", "POST"))
    def activate(self, version: str) -> Any:
        """Confirm, then make a version serve; the gate may refuse unless forced with a reason."""
        s = admin_session()
        row = self._row(version)
        form = ActivateForm()
        refused: str | None = None
        status = 400
        if self._confirmed(form):
            if form.force.data and not (form.reason.data or "").strip():
                form.reason.errors = [_("Say why you force past the gate.")]
                status = 422
            else:
                try:
                    versions.activate(
                        s,
                        row.version,
                        actor=current_actor().name,
                        reason=form.reason.data or None,
                        force=bool(form.force.data),
                    )
                except versions.GateRefused as exc:
                    s.rollback()
                    refused, status = str(exc), 409
                except versions.VersionError as exc:
                    s.rollback()
                    flash(str(exc), "error")
                    status = 409
                else:
                    s.commit()
                    flash(_("Version %(v)s is active.", v=row.version), "success")
                    return redirect(url_for(".detail", version=row.version))
        row = self._row(version)
        return self._action_page(
            "admin_models/activate.html",
            form,
            status,
            row=row,
            gate=row.gate or {},
            refused=refused,
            active=active_versions(s),
            headline=headline,
        )

    @expose("/<version>/shadow", methods=("GET", "POST"))
    def shadow(self, version: str) -> Any:
        """Confirm, then let a version predict beside the active one without deciding anything."""
        return self._shadow_action(
            version,
            versions.set_shadow,
            done=_("Version %(v)s now runs in shadow.", v=version),
            title=_("Run %(v)s in shadow", v=version),
            explain=_(
                "The shadow version predicts every new ticket beside the active one; its "
                "answers are stored for comparison and never change a ticket."
            ),
            endpoint=".shadow",
        )

    @expose("/<version>/unshadow", methods=("GET", "POST"))
    def clear_shadow(self, version: str) -> Any:
        """Confirm, then stop a version's shadow predictions."""
        return self._shadow_action(
            version,
            versions.clear_shadow,
            done=_("Version %(v)s no longer runs in shadow.", v=version),
            title=_("Stop the shadow predictions of %(v)s", v=version),
            explain=_("Shadow predictions stop; those already stored are kept."),
            endpoint=".clear_shadow",
        )

    def _shadow_action(
        self, version: str, change: Any, *, done: str, title: str, explain: str, endpoint: str
    ) -> Any:
        """Confirm, then start or stop a version's shadow predictions."""
        s = admin_session()
        row = self._row(version)
        form = ConfirmForm()
        status = 400
        if self._confirmed(form):
            try:
                change(s, row.version, actor=current_actor().name, reason=form.reason.data or None)
            except versions.VersionError as exc:
                s.rollback()
                flash(str(exc), "error")
                status = 409
            else:
                s.commit()
                flash(done, "success")
                return redirect(url_for(".detail", version=row.version))
        return self._action_page(
            "admin_models/confirm.html",
            form,
            status,
            row=row,
            title=title,
            explain=explain,
            action=url_for(endpoint, version=row.version),
        )

    @expose("/rollback", methods=("GET", "POST"))
    def rollback(self) -> Any:
        """Confirm, then return each target to the version that served before."""
        s = admin_session()
        form = ConfirmForm()
        status = 400
        if self._confirmed(form):
            try:
                done = versions.rollback(
                    s, actor=current_actor().name, reason=form.reason.data or None
                )
            except versions.VersionError as exc:
                s.rollback()
                flash(str(exc), "error")
                status = 409
            else:
                s.commit()
                summary = ", ".join(f"{t}: {v}" for t, v in sorted(done.items()))
                flash(_("Rolled back (%(s)s).", s=summary), "success")
                return redirect(url_for(".index"))
        return self._action_page(
            "admin_models/confirm.html",
            form,
            status,
            row=None,
            title=_("Roll back"),
            explain=_(
                "Each target goes back to the version that served before the current one "
                "(now serving: %(a)s).",
                a=", ".join(f"{t} {v}" for t, v in sorted(active_versions(s).items())) or "-",
            ),
            action=url_for(".rollback"),
        )

    @expose("/train", methods=("GET", "POST"))
    def train(self) -> Any:
        """Confirm, then start a training job and show its progress page."""
        form = TrainForm()
        status = 400
        if self._confirmed(form):
            try:
                job = jobs.start_training(
                    current_app._get_current_object(),  # type: ignore[attr-defined]
                    {"base_data": bool(form.base_data.data)},
                    actor=current_actor().name,
                )
            except jobs.JobError as exc:
                flash(str(exc), "error")
                status = 409
            else:
                flash(_("Training started."), "success")
                return redirect(url_for("model_jobs.detail", job_id=job.id))
        return self._action_page("admin_models/train.html", form, status)


class JobsView(RoleBaseView):
    """Background jobs (training): state, progress and outcome."""

    roles = DATA_ROLES

    def _view(self, job: Job) -> jobs.JobView:
        stale = float(current_app.config["JOB_STALE_SECONDS"])
        return jobs.view(job, now=utcnow(), stale_seconds=stale)

    @expose("/")
    def index(self) -> str:
        """List the newest jobs."""
        rows = admin_session().scalars(select(Job).order_by(Job.created_at.desc()).limit(100))
        return self.render("admin_models/jobs.html", rows=[self._view(j) for j in rows])

    @expose("/<job_id>")
    def detail(self, job_id: str) -> str:
        """Show one job; the page reloads itself while the job runs."""
        job = jobs.get_job(admin_session(), job_id) if len(job_id) <= 36 else None
        if job is None:
            abort(404)
        shown = self._view(job)
        running = shown.state in (JobState.QUEUED.value, JobState.RUNNING.value)
        return self.render("admin_models/job.html", job=shown, running=running)


def add_views(admin: Admin, app: Flask) -> None:
    """Add the model versions and jobs pages to the admin."""
    admin.add_view(
        ModelVersionsView(
            name=_l("Model versions"), endpoint="model_versions", url="models", category=CATEGORY
        )
    )
    admin.add_view(
        JobsView(name=_l("Training jobs"), endpoint="model_jobs", url="jobs", category=CATEGORY)
    )
