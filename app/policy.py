"""Who may do what. Every view declares its access through ``public``, ``signed_in`` or ``requires``;
a test fails for any route that declares none. Object-level rules live here too, so views,
CLI and templates ask one place."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, url_for
from flask_login import current_user

from app.models import Organisation, Person, Role

PUBLIC = "public"
SIGNED_IN = "signed in"


def public(view):
    """Open to everyone, signed in or not."""
    view.access = PUBLIC
    return view


def signed_in(view):
    """Open to anyone signed in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            from app.extensions import login_manager

            return login_manager.unauthorized()
        return view(*args, **kwargs)

    wrapper.access = SIGNED_IN
    return wrapper


def requires(rule: Callable[[Person], bool]):
    """Open to signed-in people for whom ``rule(person)`` holds; others get 403."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                from app.extensions import login_manager

                return login_manager.unauthorized()
            if not rule(current_user):
                abort(403)
            return view(*args, **kwargs)

        wrapper.access = rule.__name__
        return wrapper

    return decorate


# Rules about a signed-in person -------------------------------------------------------------


def is_admin(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.ADMIN)


def is_coordinator(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.COORDINATOR)


def can_manage_people(person: Person) -> bool:
    return is_admin(person) or is_coordinator(person)


def can_manage_organisations(person: Person) -> bool:
    return is_admin(person)


def can_view_outbox(person: Person) -> bool:
    return is_admin(person)


def can_view_audit_trail(person: Person) -> bool:
    return is_admin(person)


# Rules about a person and an object ---------------------------------------------------------


def managed_organisation_ids(person: Person) -> set[int] | None:
    """Organisations whose people ``person`` may manage; ``None`` means every organisation."""
    if is_admin(person):
        return None
    if is_coordinator(person):
        return person.coordinator_scope_ids
    return set()


def can_manage_in_organisation(person: Person, organisation: Organisation | int) -> bool:
    scope = managed_organisation_ids(person)
    organisation_id = organisation if isinstance(organisation, int) else organisation.id
    return scope is None or organisation_id in scope


def can_manage_person(actor: Person, person: Person) -> bool:
    """Admins manage everyone; coordinators manage people of their organisations, except admins."""
    if is_admin(actor):
        return True
    if not is_coordinator(actor) or person.has_role(Role.ADMIN):
        return False
    return can_manage_in_organisation(actor, person.organisation_id)


def grantable_roles(actor: Person) -> list[Role]:
    """Roles ``actor`` may give; only admins make admins."""
    if is_admin(actor):
        return list(Role)
    if is_coordinator(actor):
        return [r for r in Role if r is not Role.ADMIN]
    return []


def can_grant_programme_wide_scope(actor: Person) -> bool:
    return managed_organisation_ids(actor) is None


def navigation_for(person: Person) -> list[dict]:
    """Links in the service navigation for what this person's roles allow."""
    if not person or not person.is_authenticated:
        return []
    items = [{"href": url_for("main.home"), "text": "Home"},
             {"href": url_for("learning.courses"), "text": "Courses"}]
    if can_manage_runs(person):
        items.append({"href": url_for("runs.index"), "text": "Course runs"})
    if can_manage_people(person):
        items.append({"href": url_for("people.index"), "text": "People"})
    if can_manage_organisations(person):
        items.append({"href": url_for("admin.organisations"), "text": "Organisations"})
    if can_view_outbox(person):
        items.append({"href": url_for("admin.outbox"), "text": "Outbox"})
    if can_view_audit_trail(person):
        items.append({"href": url_for("admin.audit_trail"), "text": "Audit trail"})
    return items


def can_manage_runs(person: Person) -> bool:
    """Admins and coordinators set up course runs; on a run's roster, coordinators act only on the people
    of their organisations."""
    return is_admin(person) or is_coordinator(person)
