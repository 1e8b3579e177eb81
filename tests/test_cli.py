"""The command line: `flask users`, `flask organisations`, `flask demo` and `flask outbox`. Every error is
one clear line and a non-zero exit, and changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select, text

from app import create_app
from app.extensions import db
from app.models import Apprenticeship, ApprenticeshipStatus, AuditEvent, Organisation, OutboundEmail, Person, Role, Team
from app.models.email import EmailStatus
from app.services.demo import DEMO_PASSWORD, DEMO_PEOPLE
from app.services.demo_apprenticeships import DEMO_APPRENTICES
from tests.conftest import PASSWORD, TEST_SETTINGS, make_person, organisation, post_form, sign_in

HACKNEY = "E09000012"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def person_by_email(email: str) -> Person | None:
    db.session.expire_all()
    return db.session.scalar(select(Person).where(Person.email == email))


def create_user(runner, *options: str, password: str = PASSWORD, email: str = "ada@example.org"):
    args = ["users", "create", "--email", email, "--name", "Ada Okafor", *options, "--password-stdin"]
    if "--organisation" not in options:
        args += ["--organisation", "LC"]
    if "--role" not in options:
        args += ["--role", "admin"]
    return runner.invoke(args=args, input=password + "\n")


def assert_fails_with(result, message: str) -> None:
    """A failure is exactly one line on standard error and a non-zero exit."""
    assert result.exit_code != 0, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


# flask users create ----------------------------------------------------------------------------------


def test_create_the_first_admin_with_a_password_from_standard_input(app, runner):
    result = create_user(runner, "--email", "Ada@Example.org")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Created Ada Okafor <ada@example.org> in London Councils as admin\n"
    person = person_by_email("ada@example.org")
    assert person.roles == {Role.ADMIN} and person.has_password and person.active
    [event] = db.session.scalars(select(AuditEvent)).all()
    assert (event.action, event.actor_id) == ("person.created", None)
    assert count(OutboundEmail) == 0  # they have a password, so no invitation
    # The password works on the sign-in page.
    sign_in(app.test_client(), "ada@example.org", PASSWORD)


def test_create_a_coordinator_with_several_roles_and_a_scope(runner):
    result = create_user(runner, "--organisation", "e09000012", "--role", "coordinator", "--role", "supervisor",
                         "--scope", HACKNEY, "--scope", "e09000007")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Created Ada Okafor <ada@example.org> in London Borough of Hackney as supervisor, "
                             "coordinator (London Borough of Camden, London Borough of Hackney)\n")
    person = person_by_email("ada@example.org")
    assert person.coordinator_scope_ids == {organisation(HACKNEY).id, organisation("E09000007").id}


def test_a_coordinator_without_a_scope_is_programme_wide(runner):
    result = create_user(runner, "--role", "coordinator")
    assert result.exit_code == 0, result.output
    assert "as coordinator (programme-wide)" in result.stdout
    assert person_by_email("ada@example.org").coordinator_scope_ids is None


def test_the_password_may_be_typed_at_a_prompt(app, runner):
    result = runner.invoke(args=["users", "create", "--email", "ada@example.org", "--name", "Ada Okafor",
                                 "--organisation", "LC", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden as it is typed
    assert result.stdout.endswith("Created Ada Okafor <ada@example.org> in London Councils as admin\n")
    sign_in(app.test_client(), "ada@example.org", PASSWORD)


def test_a_mistyped_confirmation_at_the_prompt_creates_nobody(runner):
    result = runner.invoke(args=["users", "create", "--email", "ada@example.org", "--name", "Ada Okafor",
                                 "--organisation", "LC", "--role", "admin"],
                           input=f"{PASSWORD}\nsomething-else-entirely\n")
    assert result.exit_code != 0
    assert "The two entered values do not match." in result.output
    assert count(Person) == 0


def test_a_weak_password_at_the_prompt_is_refused(runner):
    result = runner.invoke(args=["users", "create", "--email", "ada@example.org", "--name", "Ada Okafor",
                                 "--organisation", "LC", "--role", "admin"], input="password1234\npassword1234\n")
    assert result.exit_code == 1
    assert result.stderr == "Error: Password is too common; try three random words\n"
    assert count(Person) == 0


ROLES = "learner, apprentice, supervisor, coordinator, admin"
CREATE_MISTAKES = {
    "unknown organisation": (("--organisation", "E09999999"), PASSWORD,
                             "unknown organisation code 'E09999999'; run 'flask organisations list' to see codes"),
    "unknown role": (("--role", "wizard"), PASSWORD, f"unknown role 'wizard'; choose from {ROLES}"),
    "role in capitals": (("--role", "learner", "--role", "Admin"), PASSWORD,
                         f"unknown role 'Admin'; choose from {ROLES}"),
    "unknown scope": (("--role", "coordinator", "--scope", "NOPE"), PASSWORD,
                      "unknown organisation code 'NOPE' in --scope"),
    "bad email": (("--email", "not-an-email"), PASSWORD,
                  "Enter an email address in the correct format, like name@example.org"),
    "no email": (("--email", ""), PASSWORD, "Enter an email address"),
    "scope without coordinator": (("--role", "learner", "--scope", HACKNEY), PASSWORD,
                                  "Only coordinators have organisations to coordinate"),
    "short password": ((), "short", "Password must be 12 characters or more"),
    "common password": ((), "password1234", "Password is too common; try three random words"),
    "password with the email address": ((), "ada-okafor-1234", "Password must not contain your email address"),
    "empty password": ((), "", "Password must be 12 characters or more"),
}


def test_each_mistake_is_one_clear_line_and_creates_nobody(runner):
    for case, (options, password, message) in CREATE_MISTAKES.items():
        result = create_user(runner, *options, password=password, email="ada-okafor@example.org")
        assert result.exit_code == 1, case
        assert_fails_with(result, message)
        assert (count(Person), count(AuditEvent), count(OutboundEmail)) == (0, 0, 0), case


def test_an_email_address_that_already_has_an_account_is_refused(runner):
    make_person("ada@example.org", name="Ada Okafor")
    result = create_user(runner, "--email", " ADA@example.ORG ")
    assert_fails_with(result, "someone with the email address ada@example.org already has an account")
    assert count(Person) == 1
    assert person_by_email("ada@example.org").roles == {Role.LEARNER}


def test_required_options_are_named(runner):
    result = runner.invoke(args=["users", "create", "--email", "ada@example.org"], input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert "Missing option '--name'" in result.stderr
    assert count(Person) == 0


# flask users invite ----------------------------------------------------------------------------------


def test_invite_sends_the_invitation_again(runner):
    make_person("new@example.org", password=None)
    result = runner.invoke(args=["users", "invite", "new@example.org"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Invitation queued for new@example.org\n"
    assert db.session.scalar(
        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.recipient == "new@example.org")) == 2


def test_invite_refuses_unknown_people_and_those_with_a_password(runner):
    assert_fails_with(runner.invoke(args=["users", "invite", "nobody@example.org"]),
                      "no person with the email address nobody@example.org")
    make_person("sam@example.org", name="Sam Taylor")
    assert_fails_with(runner.invoke(args=["users", "invite", "sam@example.org"]),
                      "Sam Taylor has already set a password; they can use 'Forgot your password'")
    assert count(OutboundEmail) == 0


# flask organisations ---------------------------------------------------------------------------------


def test_loading_organisations_is_safe_to_repeat(runner):
    result = runner.invoke(args=["organisations", "load"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Organisations: 0 created, 0 updated, 39 unchanged\n"

    # A missing organisation is added back and a changed name is put right.
    db.session.execute(text("DELETE FROM organisation WHERE code = 'LLDC'"))
    db.session.execute(text("UPDATE organisation SET name = 'Hackney Council' WHERE code = 'E09000012'"))
    db.session.commit()
    result = runner.invoke(args=["organisations", "load"])
    assert result.stdout == "Organisations: 1 created, 1 updated, 37 unchanged\n"
    db.session.expire_all()
    assert organisation(HACKNEY).name == "London Borough of Hackney"
    assert organisation("LLDC").name == "London Legacy Development Corporation"

    result = runner.invoke(args=["organisations", "load"])
    assert result.stdout == "Organisations: 0 created, 0 updated, 39 unchanged\n"
    assert count(Organisation) == 39


def test_list_organisations(runner):
    result = runner.invoke(args=["organisations", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 39
    assert "E09000012  London borough   London Borough of Hackney" in lines
    assert "E09000001  City of London   City of London Corporation" in lines
    assert "LC         Partner body     London Councils" in lines
    assert sum(line.startswith("E09") for line in lines) == 33


def test_add_an_organisation(runner):
    result = runner.invoke(args=["organisations", "add", "--code", "loti", "--name", "London Office of Technology"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Added London Office of Technology (LOTI)\n"
    added = organisation("LOTI")
    assert added.kind.value == "partner"
    [event] = db.session.scalars(select(AuditEvent)).all()
    assert (event.action, event.actor_id) == ("organisation.created", None)
    assert "LOTI" in runner.invoke(args=["organisations", "list"]).stdout

    result = runner.invoke(args=["organisations", "add", "--code", "E09000099", "--name", "Borough of Testing",
                                 "--kind", "london_borough"])
    assert result.exit_code == 0, result.output
    assert organisation("E09000099").kind.value == "london_borough"


def test_adding_a_bad_organisation_is_refused(runner):
    code_rule = "Code must be 2 to 20 letters, digits or hyphens, like LOTI"
    for options, message in [
        (("--code", "X", "--name", "Somewhere"), code_rule),
        (("--code", "NO WAY", "--name", "Somewhere"), code_rule),
        (("--code", "", "--name", "Somewhere"), "Enter a code for the organisation"),
        (("--code", "lc", "--name", "Somewhere"), "An organisation with the code LC already exists"),
        (("--code", "NEW", "--name", "LONDON COUNCILS"), "An organisation called LONDON COUNCILS already exists"),
        (("--code", "NEW", "--name", "  "), "Enter the organisation's name"),
    ]:
        result = runner.invoke(args=["organisations", "add", *options])
        assert_fails_with(result, message)
        assert count(Organisation) == 39
        assert count(AuditEvent) == 0


def test_adding_an_organisation_of_an_unknown_kind_is_refused(runner):
    result = runner.invoke(args=["organisations", "add", "--code", "NEW", "--name", "New", "--kind", "charity"])
    assert result.exit_code == 2
    assert "Invalid value for '--kind'" in result.stderr
    assert count(Organisation) == 39


# flask demo load ---------------------------------------------------------------------------------------


def test_demo_load_creates_everyone_once_and_each_can_sign_in(app, runner):
    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Demo people: {len(DEMO_PEOPLE)} created, 0 already there"
    assert lines[1] == f"Demo apprenticeships: {len(DEMO_APPRENTICES)} created"
    assert lines[2] == f"Demo sign-ins (password for all: {DEMO_PASSWORD}):"
    assert len(lines) == 3 + len(DEMO_PEOPLE)
    assert all(any(line.endswith(person.email) for line in lines) for person in DEMO_PEOPLE)
    people = count(Person)
    teams = count(Team)
    roles = set().union(*(person.roles for person in DEMO_PEOPLE))
    assert roles == set(Role)
    assert_demo_intake_shows_every_state()
    assert_completing_the_demo_gateway_apprenticeship_issues_a_valid_certificate(app)

    again = runner.invoke(args=["demo", "load"])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[:2] == [f"Demo people: 0 created, {len(DEMO_PEOPLE)} already there",
                                             "Demo apprenticeships: the demo intake is already there"]
    assert (count(Person), count(Team), count(Apprenticeship)) == (people, teams, len(DEMO_APPRENTICES))
    assert count(Organisation) == 39

    for demo in DEMO_PEOPLE:
        person = person_by_email(demo.email)
        assert person.roles == set(demo.roles), demo.email
        assert person.organisation.code == demo.organisation
        if demo.scope:
            assert person.coordinator_scope_ids == {organisation(code).id for code in demo.scope}
        sign_in(app.test_client(), demo.email, DEMO_PASSWORD)


def assert_demo_intake_shows_every_state():
    """One intake of apprentices across at least five boroughs, in the states coordinators meet."""
    from app.services import clock, gateway, off_the_job, otj_totals, progress_reviews

    records = db.session.scalars(select(Apprenticeship)).all()
    assert len({a.intake_id for a in records}) == 1
    assert len({a.employer.code for a in records}) >= 5
    assert len({p.host_organisation_id for a in records for p in a.placements}) >= 5
    statuses = {a.status for a in records}
    assert {ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.BREAK_IN_LEARNING, ApprenticeshipStatus.GATEWAY,
            ApprenticeshipStatus.WITHDRAWN} <= statuses
    active = [a for a in records if a.status is ApprenticeshipStatus.ACTIVE]
    behind = [a for a in active if otj_totals.totals(a).approved_hours < otj_totals.totals(a).expected_hours * 8 / 10]
    on_track = [a for a in active if otj_totals.totals(a).approved_hours >= otj_totals.totals(a).expected_hours]
    assert len(behind) >= 2 and len(on_track) >= 10
    states = {progress_reviews.review_state(r).key for a in active for r in a.reviews}
    assert {"overdue", "awaiting_signatures", "complete"} <= states
    assert any(not [p for p in a.placements if p.starts_on <= clock.today() <= p.ends_on] for a in active)
    at_gateway = next(a for a in records if a.status is ApprenticeshipStatus.GATEWAY)
    assert gateway.checklist(at_gateway).ready
    jordan = person_by_email("apprentice@pathways.example")
    assert progress_reviews.reviews_to_sign(jordan)
    supervisor = person_by_email("supervisor@pathways.example")
    assert off_the_job.approval_queue(supervisor).total > 0
    assert progress_reviews.reviews_to_sign(supervisor)


def assert_completing_the_demo_gateway_apprenticeship_issues_a_valid_certificate(app):
    """The demo coordinator records the end-point assessment and the grade; the certificate is there at once,
    and its QR code leads to a page that says it is valid."""
    from urllib.parse import urlsplit

    from app.services import certificates, clock
    from tests.certificate_factories import qr_codes

    kai = person_by_email("kai.thompson@pathways.example")
    record = db.session.scalar(select(Apprenticeship).where(Apprenticeship.apprentice_id == kai.id))
    coordinator = app.test_client()
    sign_in(coordinator, "coordinator@pathways.example", DEMO_PASSWORD)
    today = clock.today()
    for to_status, extra in (("end_point_assessment", {}), ("completed", {"grade": "distinction"})):
        response = post_form(coordinator, f"/apprenticeships/{record.id}/status",
                             {"to_status": to_status, "effective_on": [str(today.day), str(today.month),
                                                                       str(today.year)],
                              "reason": "Agreed by the employer and the provider", **extra})
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    db.session.expire_all()
    certificate = certificates.current_for_apprenticeship(record)
    assert certificate is not None and certificate.holder_name == "Kai Thompson"
    (address,) = qr_codes(certificates.stored_file(certificate).pdf)
    page = app.test_client().get(urlsplit(address).path)
    assert page.status_code == 200
    assert "This is a valid Pathways certificate" in page.get_data(as_text=True)
    home = app.test_client()
    sign_in(home, "kai.thompson@pathways.example", DEMO_PASSWORD)
    assert certificate.number in home.get("/").get_data(as_text=True)


def test_demo_load_quietly_prints_only_the_sign_ins(runner):
    result = runner.invoke(args=["demo", "load", "--quiet"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Demo sign-ins (password for all: ")
    assert "created" not in result.stdout


def test_demo_load_refuses_in_production(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    production = create_app("production", SQLALCHEMY_DATABASE_URI=database_url, **TEST_SETTINGS)
    with production.app_context():
        try:
            result = production.test_cli_runner().invoke(args=["demo", "load"])
        finally:
            db.session.remove()
            db.engine.dispose()
    assert_fails_with(result, "demo data is for development; refusing to load it in production")
    assert count(Person) == 0
    assert count(Team) == 0


# flask outbox deliver ----------------------------------------------------------------------------------


def test_outbox_deliver_refuses_unless_mail_is_sent_by_smtp(runner):
    make_person("new@example.org", password=None)
    result = runner.invoke(args=["outbox", "deliver"])
    assert_fails_with(result, "MAIL_BACKEND is not 'smtp'; messages stay on the outbox page")
    [message] = db.session.scalars(select(OutboundEmail)).all()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
