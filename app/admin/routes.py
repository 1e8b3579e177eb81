"""Running Pathways: organisations and teams, the email outbox and the audit trail (admins only)."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from app import policy
from app.admin.forms import OrganisationForm, TeamCapacityForm, TeamForm
from app.extensions import db
from app.forms import add_service_error
from app.models import AuditEvent, Organisation, OrganisationKind, OutboundEmail, Person, Team
from app.services import ServiceError, organisations, placements, single_sign_on
from app.services.tokens import LINK_EMAIL_PURPOSES

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


def _capacity_form(team: Team, formdata=None) -> TeamCapacityForm:
    form = TeamCapacityForm(formdata=formdata)
    form.apprentice_capacity.id = f"team-{team.id}-capacity"
    if formdata is None:
        form.apprentice_capacity.data = "" if team.apprentice_capacity is None else str(team.apprentice_capacity)
    return form


def _organisation_page(found: Organisation, team_form: TeamForm, failed: TeamCapacityForm | None = None,
                       failed_team: Team | None = None):
    people_count = db.session.scalar(select(func.count(Person.id)).where(Person.organisation_id == found.id))
    capacity_forms = {team.id: failed if failed_team is not None and team.id == failed_team.id else _capacity_form(team)
                      for team in found.teams}
    # ``form`` is the form whose errors the page summarises.
    return render_template("admin/organisation.html", title=found.name, organisation=found,
                           form=team_form if failed is None else failed, team_form=team_form,
                           capacity_forms=capacity_forms, people_count=people_count,
                           single_sign_on_provider=single_sign_on.provider_of(found))


@bp.route("/organisations/<int:organisation_id>", methods=["GET", "POST"])
@policy.requires(policy.can_manage_organisations)
def organisation(organisation_id: int):
    found = db.session.get(Organisation, organisation_id) or abort(404)
    form = TeamForm()
    if form.validate_on_submit():
        try:
            team = organisations.add_team(current_user, found, form.name.data)
            if form.apprentice_capacity.number is not None:
                placements.set_team_capacity(current_user, team, form.apprentice_capacity.number)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{team.name} has been added to {found.name}.", "success")
            return redirect(url_for("admin.organisation", organisation_id=found.id))
    return _organisation_page(found, form)


@bp.post("/organisations/<int:organisation_id>/teams/<int:team_id>/capacity")
@policy.requires(policy.can_manage_organisations)
def team_capacity(organisation_id: int, team_id: int):
    found = db.session.get(Organisation, organisation_id) or abort(404)
    team = db.session.get(Team, team_id)
    if team is None or team.organisation_id != found.id:
        abort(404)
    form = _capacity_form(team, request.form)
    if form.validate_on_submit():
        try:
            placements.set_team_capacity(current_user, team, form.apprentice_capacity.number)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "apprentice_capacity")
        else:
            db.session.commit()
            capacity = team.apprentice_capacity
            flash(f"{team.name} now has no limit on apprentices." if capacity is None else
                  f"{team.name} can now host {capacity} apprentice{'' if capacity == 1 else 's'} at a time.", "success")
            return redirect(url_for("admin.organisation", organisation_id=found.id) + "#apprentice-capacity")
    return _organisation_page(found, TeamForm(formdata=None), form, team)


# Every web address in a message whose link is hidden: the link, however the email words it.
_ADDRESS = re.compile(r"https?://\S+")


def _hides_link(message: OutboundEmail) -> bool:
    """Whether the page hides this message's link: a live link to set a password lets whoever follows it take
    over the account, so it is shown only where OUTBOX_SHOWS_LINKS is on (development and testing)."""
    return message.purpose in LINK_EMAIL_PURPOSES and not current_app.config["OUTBOX_SHOWS_LINKS"]


@bp.get("/outbox")
@policy.requires(policy.can_view_outbox)
def outbox():
    page = db.paginate(select(OutboundEmail).order_by(OutboundEmail.id.desc()), per_page=PAGE_SIZE, error_out=False)
    return render_template("admin/outbox.html", title="Email outbox", page=page, hides_link=_hides_link)


@bp.get("/outbox/<int:message_id>")
@policy.requires(policy.can_view_outbox)
def outbox_message(message_id: int):
    message = db.session.get(OutboundEmail, message_id) or abort(404)
    hidden = _hides_link(message)
    body = _ADDRESS.sub("[link hidden]", message.body_text) if hidden else message.body_text
    return render_template("admin/outbox_message.html", title=message.subject, message=message, body=body,
                           link_hidden=hidden)


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


# Single sign-on for an organisation registers its routes on ``bp``.
from app.admin import single_sign_on as single_sign_on_views  # noqa: E402, F401
