"""Running Pathways: organisations and teams, the email outbox and the audit trail (admins only)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from app import policy
from app.admin.forms import OrganisationForm, TeamForm
from app.extensions import db
from app.forms import add_service_error
from app.models import AuditEvent, Organisation, OrganisationKind, OutboundEmail, Person
from app.services import ServiceError, organisations

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50


@bp.get("/organisations", endpoint="organisations")
@policy.requires(policy.can_manage_organisations)
def organisations_index():
    people_counts = dict(db.session.execute(
        select(Person.organisation_id, func.count(Person.id)).group_by(Person.organisation_id)
    ).all())
    return render_template("admin/organisations.html", title="Organisations and teams",
                           organisations=organisations.list_organisations(), people_counts=people_counts)


@bp.route("/organisations/new", methods=["GET", "POST"])
@policy.requires(policy.can_manage_organisations)
def new_organisation():
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            organisation = organisations.create_organisation(
                current_user, code=form.code.data, name=form.name.data, kind=OrganisationKind(form.kind.data)
            )
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{organisation.name} has been added.", "success")
            return redirect(url_for("admin.organisation", organisation_id=organisation.id))
    return render_template("admin/organisation_new.html", title="Add an organisation", form=form)


@bp.route("/organisations/<int:organisation_id>", methods=["GET", "POST"])
@policy.requires(policy.can_manage_organisations)
def organisation(organisation_id: int):
    found = db.session.get(Organisation, organisation_id) or abort(404)
    form = TeamForm()
    if form.validate_on_submit():
        try:
            team = organisations.add_team(current_user, found, form.name.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{team.name} has been added to {found.name}.", "success")
            return redirect(url_for("admin.organisation", organisation_id=found.id))
    people_count = db.session.scalar(select(func.count(Person.id)).where(Person.organisation_id == found.id))
    return render_template("admin/organisation.html", title=found.name, organisation=found, form=form,
                           people_count=people_count)


@bp.get("/outbox")
@policy.requires(policy.can_view_outbox)
def outbox():
    page = db.paginate(select(OutboundEmail).order_by(OutboundEmail.id.desc()), per_page=PAGE_SIZE, error_out=False)
    return render_template("admin/outbox.html", title="Email outbox", page=page)


@bp.get("/outbox/<int:message_id>")
@policy.requires(policy.can_view_outbox)
def outbox_message(message_id: int):
    message = db.session.get(OutboundEmail, message_id) or abort(404)
    return render_template("admin/outbox_message.html", title=message.subject, message=message)


@bp.get("/audit")
@policy.requires(policy.can_view_audit_trail)
def audit_trail():
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    action = request.args.get("action", "").strip()
    if action:
        query = query.where(AuditEvent.action == action)
    actions = db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).all()
    page = db.paginate(query, per_page=PAGE_SIZE, error_out=False)
    return render_template("admin/audit.html", title="Audit trail", page=page, actions=actions, action=action)
