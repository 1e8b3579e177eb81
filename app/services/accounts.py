"""People and their roles: creating, inviting, changing roles and scopes, deactivating."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, func, select

from app import policy
from app.extensions import db
from app.models import Organisation, PasswordResetRequest, Person, Role, RoleGrant, Team
from app.models.types import utcnow
from app.services import ServiceError, audit, locks, outbox, signing_in
from app.services.passwords import hash_password, password_problem
from app.services.tokens import Holder, LinkError, LinkPurpose, external_url, lifetime, make_token, use_up


def normalise_email(email: str) -> str:
    """The canonical, lower-cased form of an address; ``ServiceError`` if it is not an address."""
    email = (email or "").strip()
    if not email:
        raise ServiceError("Enter an email address", field="email")
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ServiceError(
            "Enter an email address in the correct format, like name@example.org", field="email"
        ) from None


def find_person_by_email(email: str) -> Person | None:
    return db.session.scalar(select(Person).where(Person.email == email.strip().lower()))


def organisation_by_code(code: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(func.upper(Organisation.code) == code.strip().upper()))


def check_roles(
    actor: Person | None, organisation: Organisation, roles: Iterable[Role], scope: Iterable[Organisation]
) -> tuple[list[Role], list[Organisation]]:
    roles = sorted(set(roles), key=list(Role).index)
    scope = sorted(set(scope), key=lambda o: o.name)
    if not roles:
        raise ServiceError("Select at least one role", field="roles")
    if scope and Role.COORDINATOR not in roles:
        raise ServiceError("Only coordinators have organisations to coordinate", field="scope")
    if actor is not None:
        allowed = policy.grantable_roles(actor)
        refused = [r for r in roles if r not in allowed]
        if refused:
            raise ServiceError(f"You cannot give the {refused[0].label.lower()} role", field="roles")
        if not policy.can_manage_in_organisation(actor, organisation):
            raise ServiceError(f"You cannot manage people in {organisation.name}", field="organisation")
        if Role.COORDINATOR in roles:
            if not scope and not policy.can_grant_programme_wide_scope(actor):
                raise ServiceError("Choose the organisations this coordinator covers", field="scope")
            outside = [o for o in scope if not policy.can_manage_in_organisation(actor, o)]
            if outside:
                raise ServiceError(f"You cannot give a coordinator scope over {outside[0].name}", field="scope")
    return roles, scope


def _grants(roles: list[Role], scope: list[Organisation]) -> list[RoleGrant]:
    grants = []
    for role in roles:
        if role is Role.COORDINATOR and scope:
            grants.extend(RoleGrant(role=role, organisation_id=o.id) for o in scope)
        else:
            grants.append(RoleGrant(role=role))
    return grants


def describe_roles(person: Person) -> str:
    parts = []
    for role in sorted(person.roles, key=list(Role).index):
        if role is Role.COORDINATOR:
            scope = person.coordinator_scope_ids
            if scope is None:
                parts.append("coordinator (programme-wide)")
            else:
                names = sorted(g.organisation.name for g in person.role_grants if g.organisation is not None)
                parts.append(f"coordinator ({', '.join(names)})")
        else:
            parts.append(role.value)
    return ", ".join(parts)


# Characters that change how the text around them is shown without being seen: a name holding U+202E
# (right-to-left override) prints reversed on a certificate. Zero-width joiners stay: some scripts need them.
_JOINERS = {"\u200c", "\u200d"}


def name_problem(name: str) -> str | None:
    """Why ``name`` (already NFC and stripped) cannot be a person's name, or None."""
    if not name:
        return "Enter the person's full name"
    if len(name) > 200:
        return "Name must be 200 characters or fewer"
    for character in name:
        if unicodedata.category(character) in {"Cc", "Cf", "Cs", "Co", "Cn"} and character not in _JOINERS:
            label = unicodedata.name(character, "an unassigned or control character")
            return (f"The name contains an invisible character (U+{ord(character):04X} {label}) that changes how "
                    "text is shown: type the name again without it")
    return None


def clean_name(name: str | None) -> str:
    """A person's name in Unicode NFC with outer spaces removed; refuses what :func:`name_problem` refuses."""
    name = unicodedata.normalize("NFC", name or "").strip()
    problem = name_problem(name)
    if problem:
        raise ServiceError(problem, field="name")
    return name


def create_person(
    actor: Person | None,
    *,
    email: str,
    name: str,
    organisation: Organisation,
    roles: Iterable[Role],
    scope: Iterable[Organisation] = (),
    team: Team | None = None,
    password: str | None = None,
    invite: bool = True,
) -> Person:
    """Create a person. ``actor`` None means the command line, which may do anything."""
    email = normalise_email(email)
    name = clean_name(name)
    if find_person_by_email(email) is not None:
        raise ServiceError(f"Someone with the email address {email} already has an account", field="email")
    if team is not None and team.organisation_id != organisation.id:
        raise ServiceError(f"{team.name} is not a team in {organisation.name}", field="team")
    roles, scope = check_roles(actor, organisation, roles, scope)
    if password is not None:
        problem = password_problem(password, email=email, name=name)
        if problem:
            raise ServiceError(problem, field="password")

    person = Person(email=email, name=name, organisation=organisation, team=team, role_grants=_grants(roles, scope))
    if password is not None:
        person.password_hash = hash_password(password)
        person.password_set_at = utcnow()
    db.session.add(person)
    db.session.flush()
    audit.record(actor, "person.created", person, f"Created {name} <{email}> as {describe_roles(person)}",
                 organisation=organisation.code)
    if invite and password is None:
        send_invitation(actor, person)
    return person


def change_roles(actor: Person | None, person: Person, roles: Iterable[Role], scope: Iterable[Organisation]) -> None:
    if actor is not None and not policy.can_manage_person(actor, person):
        raise ServiceError("You cannot change this person's roles")
    before = describe_roles(person)
    roles, scope = check_roles(actor, person.organisation, roles, scope)
    if actor is not None and actor.id == person.id and Role.ADMIN in person.roles and Role.ADMIN not in roles:
        raise ServiceError("You cannot remove your own admin role; ask another admin", field="roles")
    if Role.ADMIN in person.roles and Role.ADMIN not in roles:
        _ensure_another_admin(person)
    # A grant that stays is kept as it is: replacing it would insert its twin before deleting it. (Nobody changes
    # a coordinator whose scope goes beyond their own, so every grant is the actor's to change.)
    current = {(g.role, g.organisation_id): g for g in person.role_grants}
    person.role_grants = [current.get((g.role, g.organisation_id), g) for g in _grants(roles, scope)]
    db.session.flush()
    db.session.expire(person, ["role_grants"])
    after = describe_roles(person)
    if before != after:
        audit.record(actor, "person.roles_changed", person, f"Roles of {person.name} changed from {before} to {after}",
                     before=before, after=after)


def _ensure_another_admin(person: Person) -> None:
    others = db.session.scalar(
        select(func.count(RoleGrant.id))
        .join(Person)
        .where(RoleGrant.role == Role.ADMIN, Person.active.is_(True), Person.id != person.id)
    )
    if not others:
        raise ServiceError("Pathways must keep at least one active admin", field="roles")


def deactivate_person(actor: Person | None, person: Person, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Enter why you are deactivating this account", field="reason")
    if actor is not None and not policy.can_manage_person(actor, person):
        raise ServiceError("You cannot deactivate this person")
    if actor is not None and actor.id == person.id:
        raise ServiceError("You cannot deactivate your own account", field="reason")
    if not person.active:
        raise ServiceError(f"{person.name}'s account is already deactivated")
    if Role.ADMIN in person.roles:
        _ensure_another_admin(person)
    person.active = False
    person.deactivated_at = utcnow()
    person.session_version += 1  # signs them out everywhere
    audit.record(actor, "person.deactivated", person, f"Deactivated {person.name}: {reason}", reason=reason)


def reactivate_person(actor: Person | None, person: Person) -> None:
    if actor is not None and not policy.can_manage_person(actor, person):
        raise ServiceError("You cannot reactivate this person")
    if person.active:
        raise ServiceError(f"{person.name}'s account is already active")
    person.active = True
    person.deactivated_at = None
    audit.record(actor, "person.reactivated", person, f"Reactivated {person.name}")


def _link(token: str) -> str:
    return external_url("auth.set_password", token=token)


def send_invitation(actor: Person | None, person: Person) -> None:
    if person.has_password:
        raise ServiceError(f"{person.name} has already set a password; they can use 'Forgot your password'")
    if not person.active:
        raise ServiceError(f"{person.name}'s account is deactivated")
    outbox.queue_email(
        person.email,
        "invitation",
        "invitation",
        person=person,
        inviter=actor,
        link=_link(make_token(person, LinkPurpose.INVITATION)),
        valid_days=lifetime(LinkPurpose.INVITATION).days,
    )
    person.invited_at = utcnow()
    audit.record(actor, "person.invited", person, f"Invitation sent to {person.email}")


class ResetRequestRefused(ServiceError):
    """Too many requests to reset a password; said alike whether or not the address has an account."""


def _check_reset_limits(address_digest: str, client_address: str) -> None:
    config = current_app.config
    window = timedelta(minutes=config["PASSWORD_RESET_WINDOW_MINUTES"])
    now = utcnow()
    # Held to the end of the transaction, so requests at the same moment are counted one after another. Every
    # request takes the address's lock before the client's, so none waits for a lock held by one waiting for it.
    locks.lock_name(PasswordResetRequest.__table__, f"password-reset:address:{address_digest}")
    locks.lock_name(PasswordResetRequest.__table__, f"password-reset:client:{client_address}")
    for column, value, limit, message in (
        (PasswordResetRequest.address_digest, address_digest, config["PASSWORD_RESET_MAX_PER_ADDRESS"],
         "Too many requests to reset the password of this email address. Wait {wait} and try again."),
        (PasswordResetRequest.client_address, client_address, config["PASSWORD_RESET_MAX_PER_CLIENT"],
         "Too many requests to reset a password from your network. Wait {wait} and try again."),
    ):
        limit = max(limit, 1)
        times = db.session.scalars(
            select(PasswordResetRequest.at).where(column == value, PasswordResetRequest.at >= now - window)
            .order_by(PasswordResetRequest.at.desc()).limit(limit)
        ).all()
        if len(times) >= limit:
            # Clear when the oldest of the last ``limit`` requests leaves the window.
            minutes = max(1, math.ceil((times[-1] + window - now).total_seconds() / 60))
            raise ResetRequestRefused(message.format(wait=f"{minutes} minute{'s' if minutes != 1 else ''}"),
                                      field="email")


def request_password_reset(email: str, client_address: str = "") -> None:
    """Queue a link to choose a password if an active account has this address; say nothing either way.

    Whether or not the address has an account, the request does the same work in the same statements: it is
    counted, a link is made and its email written, so the time it takes tells nothing. The email is kept only
    for an active account: otherwise the savepoint it was written in is rolled back. ``ResetRequestRefused``,
    the same for every address, past the limits per address asked for (which is per account) and per client.
    """
    try:
        email = normalise_email(email)
    except ServiceError:
        return
    client_address = (client_address or "unknown")[:64]
    digest = signing_in.account_digest(email)
    _check_reset_limits(digest, client_address)
    db.session.add(PasswordResetRequest(address_digest=digest, client_address=client_address))
    # Columns, not the Person: loading one would load their roles too, work an unknown address does not do.
    found = db.session.execute(
        select(Person.id, Person.email, Person.name, Person.password_hash, Person.session_version, Person.active)
        .where(Person.email == email)
    ).first()
    holder = Holder(*found) if found else Holder(None, email, "", None, None, False)
    invited = holder.id is not None and holder.password_hash is None
    purpose = LinkPurpose.INVITATION if invited else LinkPurpose.PASSWORD_RESET
    with db.session.begin_nested() as queued:
        outbox.queue_email(
            holder.email,
            "password_reset",
            "password_reset",
            person=holder,
            link=_link(make_token(holder, purpose)),
            valid_minutes=int(lifetime(purpose).total_seconds() // 60),
        )
        if holder.id is None or not holder.active:
            queued.rollback()


def set_password(person: Person, password: str, confirmation: str | None = None) -> None:
    problem = password_problem(password, email=person.email, name=person.name)
    if problem:
        raise ServiceError(problem, field="password")
    if confirmation is not None and confirmation != password:
        raise ServiceError("The passwords do not match", field="confirm_password")
    first_time = not person.has_password
    person.password_hash = hash_password(password)
    person.password_set_at = utcnow()
    person.session_version += 1  # every other session of this person ends
    audit.record(person, "person.password_set", person,
                 f"{person.name} {'set' if first_time else 'changed'} their password")
    if not first_time:
        _tell_password_changed(person)


def _tell_password_changed(person: Person) -> None:
    """Email the holder, so a change they did not make (someone else with their password, or their inbox) is
    noticed; with the way to take the account back."""
    outbox.queue_email(person.email, "password_changed", "password_changed", person=person, changed_at=utcnow(),
                       forgot_link=external_url("auth.forgot_password"))


def set_password_from_link(token: str, person: Person, password: str, confirmation: str | None = None) -> None:
    """Set the password of ``person``, read from the link ``token``, and use the link up, in one transaction.
    ``ServiceError`` if the password will not do, or if another request used the link first (then nothing of
    this request is kept)."""
    set_password(person, password, confirmation)
    try:
        use_up(token)
    except LinkError as error:
        db.session.rollback()
        raise ServiceError(error.message, field="password") from None
    # The throttled sign-in page says "wait, or reset your password": a new password ends the wait.
    signing_in.forget_failures(person.email)


def purge_old_reset_requests(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete records of password reset requests older than ``older_than`` (kept that long, as sign-in attempts
    are, to look into abuse)."""
    result = db.session.execute(delete(PasswordResetRequest).where(PasswordResetRequest.at < utcnow() - older_than))
    return result.rowcount or 0
