"""People: invite one or many, change roles and scopes, deactivate. Admins see everyone;
coordinators see the people of the organisations they coordinate."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import policy
from app.auth.multi_factor import recent_second_factor
from app.extensions import db
from app.forms import add_service_error
from app.models import AuditEvent, Role, Team
from app.people.forms import (
    ConfirmForm,
    DeactivateForm,
    ImportConfirmForm,
    ImportUploadForm,
    PersonForm,
    RolesForm,
)
from app.services import ServiceError, accounts, people_import
from app.services.people import PAGE_SIZE, PeopleFilter, get_manageable_person, manageable_organisations, people_query

bp = Blueprint("people", __name__, url_prefix="/people")
manage = policy.requires(policy.can_manage_people)


def _person_or_404(person_id: int):
    person = get_manageable_person(current_user, person_id)
    if person is None:
        abort(404)
    return person


def _fill_role_choices(form: RolesForm) -> list:
    organisations = manageable_organisations(current_user)
    form.roles.choices = {r.value: r.label for r in policy.grantable_roles(current_user)}
    form.scope.choices = {str(o.id): o.name for o in organisations}
    return organisations


def _roles_and_scope(form: RolesForm, organisations) -> tuple[list[Role], list]:
    by_id = {str(o.id): o for o in organisations}
    return [Role(r) for r in form.roles.data or []], [by_id[i] for i in form.scope.data or [] if i in by_id]


@bp.get("")
@manage
def index():
    organisations = manageable_organisations(current_user)
    role = request.args.get("role", "")
    organisation_id = request.args.get("organisation", type=int)
    filters = PeopleFilter(
        search=request.args.get("q", "").strip()[:200],
        organisation_id=organisation_id,
        role=Role(role) if role in {r.value for r in Role} else None,
        status=request.args.get("status", "active") if request.args.get("status") in {"active", "deactivated", "all"}
        else "active",
    )
    page = db.paginate(people_query(current_user, filters), per_page=PAGE_SIZE, error_out=False)
    return render_template("people/index.html", title="People", page=page, filters=filters,
                           organisations=organisations, roles=list(Role), describe_roles=accounts.describe_roles)


@bp.route("/new", methods=["GET", "POST"])
@manage
def new():
    form = PersonForm()
    organisations = _fill_role_choices(form)
    form.organisation.choices = {"": "Select an organisation"} | {str(o.id): o.name for o in organisations}
    teams = db.session.scalars(
        select(Team).where(Team.organisation_id.in_([o.id for o in organisations])).order_by(Team.name)
    ).all()
    form.team.choices = {"": "No team"} | {str(t.id): f"{t.name} ({t.organisation.name})" for t in teams}
    if form.validate_on_submit():
        organisation = next((o for o in organisations if str(o.id) == form.organisation.data), None)
        team = next((t for t in teams if str(t.id) == form.team.data), None)
        roles, scope = _roles_and_scope(form, organisations)
        try:
            person = accounts.create_person(current_user, email=form.email.data, name=form.name.data,
                                            organisation=organisation, roles=roles, scope=scope, team=team)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{person.name} has been invited. An email with a link to set a password is on its way to "
                  f"{person.email}.", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/new.html", title="Invite someone", form=form)


@bp.get("/<int:person_id>")
@manage
def show(person_id: int):
    person = _person_or_404(person_id)
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "person", AuditEvent.subject_id == person.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(20)
    ).all()
    return render_template("people/show.html", title=person.name, person=person, history=history,
                           roles_text=accounts.describe_roles(person), confirm_form=ConfirmForm())


@bp.route("/<int:person_id>/roles", methods=["GET", "POST"])
@manage
@recent_second_factor  # roles open or close whole areas of Pathways: a recent code, not just a session
def edit_roles(person_id: int):
    person = _person_or_404(person_id)
    form = RolesForm()
    organisations = _fill_role_choices(form)
    if request.method == "GET":
        form.roles.data = sorted({g.role.value for g in person.role_grants})
        form.scope.data = [str(g.organisation_id) for g in person.role_grants
                           if g.role is Role.COORDINATOR and g.organisation_id]
    if form.validate_on_submit():
        roles, scope = _roles_and_scope(form, organisations)
        try:
            accounts.change_roles(current_user, person, roles, scope)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "roles")
        else:
            db.session.commit()
            flash(f"{person.name}'s roles have been saved.", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/roles.html", title=f"Change roles for {person.name}", form=form, person=person,
                           programme_wide=policy.can_grant_programme_wide_scope(current_user))


@bp.route("/<int:person_id>/deactivate", methods=["GET", "POST"])
@manage
def deactivate(person_id: int):
    person = _person_or_404(person_id)
    form = DeactivateForm()
    if form.validate_on_submit():
        try:
            accounts.deactivate_person(current_user, person, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            flash(f"{person.name}'s account has been deactivated. Their records are kept.", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/deactivate.html", title=f"Deactivate {person.name}", form=form, person=person)


@bp.post("/<int:person_id>/reactivate")
@manage
def reactivate(person_id: int):
    person = _person_or_404(person_id)
    if ConfirmForm().validate_on_submit():
        try:
            accounts.reactivate_person(current_user, person)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(f"{person.name}'s account has been reactivated.", "success")
    return redirect(url_for("people.show", person_id=person.id))


@bp.post("/<int:person_id>/invitation")
@manage
def resend_invitation(person_id: int):
    person = _person_or_404(person_id)
    if ConfirmForm().validate_on_submit():
        try:
            accounts.send_invitation(current_user, person)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(f"A new invitation is on its way to {person.email}.", "success")
    return redirect(url_for("people.show", person_id=person.id))


@bp.route("/import", methods=["GET", "POST"])
@manage
def import_upload():
    form = ImportUploadForm()
    if form.validate_on_submit():
        try:
            text = people_import.decode(form.file.data.read())
        except ServiceError as error:
            add_service_error(form, error, "file")
        else:
            check = people_import.check_import(current_user, text)
            confirm = ImportConfirmForm(formdata=None, content=text)
            return render_template("people/import_preview.html", title="Check the people to invite",
                                   check=check, confirm_form=confirm)
    return render_template("people/import.html", title="Invite people from a CSV file", form=form,
                           columns=people_import.COLUMNS)


@bp.post("/import/confirm")
@manage
def import_confirm():
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    text = form.content.data or ""
    try:
        people = people_import.import_people(current_user, text)
    except ServiceError:
        db.session.rollback()
        check = people_import.check_import(current_user, text)
        return render_template("people/import_preview.html", title="Check the people to invite", check=check,
                               confirm_form=ImportConfirmForm(formdata=None, content=text)), 400
    db.session.commit()
    flash(f"{len(people)} {'person has' if len(people) == 1 else 'people have'} been invited.", "success")
    return redirect(url_for("people.index"))
