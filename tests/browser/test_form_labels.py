"""Every form control on every kind of Pathways page has an id of its own and a label that works: in a real
browser, each input, select and textarea (not hidden fields or buttons) has an id no other element of the page
shares, and a <label> for it (by ``for`` or by wrapping it) or an aria-labelledby naming elements that exist.
Clicking the label does what it does for a sighted mouse user: it checks a radio, ticks or unticks a checkbox,
opens the file chooser, or puts the cursor in the box.

The pages are the ones the accessibility checks visit (each area's page list, with its own data), so a page
added there is checked here too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from app.models import Role, RunKind
from tests.apprenticeship_factories import make_coordinator
from tests.browser import test_accessibility as general
from tests.browser import test_apprenticeship_accessibility as apprenticeships
from tests.browser import test_certificate_browser as certificate_pages
from tests.browser import test_cohort_review_browser as cohort_review
from tests.browser import test_verification_browser as verification
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_apprenticeship_accessibility import form_with_errors
from tests.browser.test_multi_factor_browser import password_step
from tests.conftest import make_person
from tests.course_factories import enrol, make_learner, make_learning_course, make_run, record_progress
from tests.test_multi_factor import with_app

pytestmark = pytest.mark.browser

# Each area's data, under a name of its own here (each module calls its own fixture "world").
general_world = general.world
apprenticeship_world = apprenticeships.world
certificate_world = certificate_pages.pages
verification_world = verification.world
cohort_review_world = cohort_review.world


def _goto(path: Callable) -> Callable:
    return lambda page, data: page.goto(path(data))


@dataclass
class Others:
    """The pages no area's list visits: a learner on a self-paced run with its knowledge check open, a coordinator
    with a scheduled run and someone on its roster, an admin, and people part-way through signing in (one with an
    authenticator app, one yet to set one up)."""

    learner: object
    coordinator: object
    admin: object
    with_app: object
    without_app: object
    slug: str
    enrolment_id: int
    run_id: int
    on_roster_id: int


@pytest.fixture
def other_world() -> Others:
    course = make_learning_course()
    learner = make_learner("lee@example.org", name="Lee Learner")
    enrolment = enrol(learner, make_run(course, kind=RunKind.SELF_PACED))
    record_progress(enrolment, lessons=len(course.lessons))
    run = make_run(course, name="Spring 2027")
    on_roster = enrol(make_learner("rita@example.org", name="Rita Roster"), run)
    coordinator = make_coordinator(scope=("E09000012",))
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    signing_in = make_person("sol@example.org", name="Sol Signer", roles=(Role.COORDINATOR,), scope=("E09000012",))
    with_app(signing_in)
    newcomer = make_person("nat@example.org", name="Nat New", roles=(Role.COORDINATOR,), scope=("E09000012",))
    others = Others(learner, coordinator, admin, signing_in, newcomer, course.slug, enrolment.id, run.id,
                    on_roster.id)
    release_database()
    return others


def _code_step(page, data):
    page.context.clear_cookies()
    password_step(page, data.with_app)


def _set_up_step(page, data):
    page.context.clear_cookies()
    password_step(page, data.without_app)


def _recovery_step(page, data):
    _code_step(page, data)
    page.get_by_role("link", name="Use a recovery code instead").click()


OTHER_PAGES = [
    # People signing in with an authenticator app, and one setting it up.
    ("code at sign-in", None, _code_step),
    ("code at sign-in with an error", None, form_with_errors(lambda d: "/sign-in/code", "Continue")),
    ("recovery code at sign-in", None, _recovery_step),
    ("authenticator set-up at the first sign-in", None, _set_up_step),
    # Lee, learning.
    ("course", "learner", _goto(lambda d: f"/courses/{d.slug}")),
    ("course overview", "learner", _goto(lambda d: f"/learning/{d.enrolment_id}")),
    ("knowledge check", "learner", _goto(lambda d: f"/learning/{d.enrolment_id}/checks/check")),
    ("knowledge check with errors", "learner",
     form_with_errors(lambda d: f"/learning/{d.enrolment_id}/checks/check", "Submit answers")),
    ("withdraw from a course", "learner", _goto(lambda d: f"/learning/{d.enrolment_id}/withdraw")),
    ("reminder settings", "learner", _goto(lambda d: "/account/reminders")),
    ("sessions", "learner", _goto(lambda d: "/account/sessions")),
    # A coordinator of Hackney, running courses.
    ("runs", "coordinator", _goto(lambda d: "/runs")),
    ("add a run with errors", "coordinator", form_with_errors(lambda d: f"/courses/{d.slug}/runs/new", "Add run")),
    ("run and its roster", "coordinator", _goto(lambda d: f"/runs/{d.run_id}")),
    ("enrol people from a file", "coordinator", _goto(lambda d: f"/runs/{d.run_id}/enrolments/import")),
    ("withdraw someone from a run", "coordinator",
     _goto(lambda d: f"/runs/{d.run_id}/enrolments/{d.on_roster_id}/withdraw")),
    # The admin.
    ("scheduled jobs", "admin", _goto(lambda d: "/admin/scheduled-jobs")),
    ("scheduled jobs' history", "admin", _goto(lambda d: "/admin/scheduled-jobs/history")),
    ("own authenticator app", "admin", _goto(lambda d: "/account/authenticator")),
    ("reset someone's authenticator app", "admin",
     _goto(lambda d: f"/people/{d.with_app.id}/authenticator/reset")),
    ("reminders preview", "admin", _goto(lambda d: "/admin/reminders/preview")),
]


@dataclass
class Visit:
    name: str
    who: str | None  # the attribute of the data naming who signs in; None for someone not signed in
    open: Callable  # (page, data)


@dataclass
class Area:
    fixture: str
    visits: list[Visit]

    def viewers(self) -> list[str | None]:
        return list(dict.fromkeys(visit.who for visit in self.visits))


AREAS = {
    "people and accounts": Area("general_world", [Visit(c.name, c.who, c.open) for c in general.PAGES]),
    "apprenticeships": Area("apprenticeship_world", [Visit(c.name, c.who, c.open) for c in apprenticeships.PAGES]),
    "certificates": Area("certificate_world", [Visit(c.name, c.who, c.open) for c in certificate_pages.PAGES]),
    "certificate checks": Area("verification_world",
                               [Visit(name, None, open_page) for name, open_page, _ in verification.PAGES]),
    "cohort review": Area("cohort_review_world",
                          [Visit(name, "coordinator", _goto(path)) for name, path, _ in cohort_review.PAGES]),
    "courses, signing in and administration": Area("other_world", [Visit(*visit) for visit in OTHER_PAGES]),
}
RUNS = [(area, who) for area, spec in AREAS.items() for who in spec.viewers()]

# Every control of the page, numbered, and each label marked with the number of its control; what is wrong with
# each control's id and label is worked out in the page, where the browser resolves labels as people meet them.
CONTROLS = """() => {
    const skipped = new Set(["hidden", "submit", "button", "image", "reset"]);
    const controls = [...document.querySelectorAll("input, select, textarea")].filter((c) => !skipped.has(c.type));
    return controls.map((control, index) => {
        control.setAttribute("data-control", String(index));
        const labels = [...control.labels];
        labels.forEach((label) => label.setAttribute("data-label-of", String(index)));
        const named = (control.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
        return {
            index,
            id: control.id,
            sharing: control.id ? document.querySelectorAll(`[id="${CSS.escape(control.id)}"]`).length : 0,
            type: control.type,
            labels: labels.length,
            named: named.length,
            namedMissing: named.filter((id) => !document.getElementById(id)),
            disabled: control.disabled,
            html: control.outerHTML.slice(0, 200),
        };
    });
}"""
# Whether a mouse aimed at the middle of the label lands on it (not on a link or button inside it, which would
# do their own thing): a label hidden from sight is activated as a screen reader does, by a click in the page.
CLICKABLE = """(label) => {
    const box = label.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) return false;
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return !!hit && label.contains(hit) && !hit.closest("a, button");
}"""


def label_problems(page) -> tuple[list[str], int]:
    """What is wrong with the page's controls and their labels, and how many controls it has."""
    problems = []
    controls = page.evaluate(CONTROLS)
    for control in controls:
        where = control["html"]
        if not control["id"]:
            problems.append(f"has no id: {where}")
            continue
        if control["sharing"] > 1:
            problems.append(f"shares its id {control['id']!r} with {control['sharing'] - 1} other element(s): {where}")
        if not control["labels"]:
            if not control["named"]:
                problems.append(f"has no label: {where}")
            elif control["namedMissing"]:
                problems.append(f"is labelled by elements that do not exist {control['namedMissing']}: {where}")
            continue
        if not control["disabled"]:
            trouble = _click_label(page, control)
            if trouble:
                problems.append(f"{trouble}: {where}")
    # Back to the values the page was drawn with: a later visit may send this form as it is.
    page.evaluate("() => document.querySelectorAll('form').forEach((form) => form.reset())")
    return problems, len(controls)


def _click_label(page, control: dict) -> str | None:
    """Click the control's label; what went wrong, if anything."""
    target = page.locator(f'[data-control="{control["index"]}"]')
    label = page.locator(f'[data-label-of="{control["index"]}"]').first
    if not target.is_visible():
        return None  # not on show (e.g. inside a closed reveal): its label is checked above, not clicked

    def click():
        label.scroll_into_view_if_needed()
        if label.evaluate(CLICKABLE):
            label.click()
        else:
            label.evaluate("(label) => label.click()")

    kind = control["type"]
    if kind == "file":
        try:
            with page.expect_file_chooser(timeout=3000):
                click()
        except Exception:  # noqa: BLE001 - Playwright's timeout: the chooser never opened
            return "clicking its label does not open the file chooser"
        return None
    if kind == "checkbox":
        before = target.is_checked()
        click()
        return None if target.is_checked() != before else "clicking its label does not tick or untick it"
    click()
    if kind == "radio":
        return None if target.is_checked() else "clicking its label does not select it"
    focused = target.evaluate("(control) => document.activeElement === control")
    return None if focused else "clicking its label does not put the cursor in it"


@pytest.mark.parametrize(("area", "who"), RUNS, ids=[f"{area}, {who or 'signed out'}" for area, who in RUNS])
def test_every_form_control_has_a_unique_id_and_a_label_that_works(area, who, request, new_page):
    """One browser context per area and viewer, signed in once; every page is checked before the problems of all
    of them are reported together."""
    spec = AREAS[area]
    data = request.getfixturevalue(spec.fixture)
    page = new_page()
    if who is not None:
        sign_in(page, getattr(data, who))
    visits = [visit for visit in spec.visits if visit.who == who]
    problems, checked = [], 0
    for visit in visits:
        visit.open(page, data)
        release_database()
        expect(page.locator("main")).to_be_visible()
        found, count = label_problems(page)
        checked += count
        if found:
            problems.append(f"The {visit.name} page ({page.url}):\n    " + "\n    ".join(found))
    assert not problems, f"Form controls without a unique id or a working label on {len(problems)} of " \
                         f"{len(visits)} pages:\n\n" + "\n\n".join(problems)
    if any("with errors" in visit.name or "with an error" in visit.name for visit in visits):
        assert checked, "forms were visited but no control was found: the check itself is broken"


def test_the_check_finds_shared_ids_missing_labels_and_labels_that_do_nothing(new_page):
    """A guard on the check itself: on a page with a control whose id a heading shares (its label then points at
    the heading), one with no label, and one labelled by nothing that exists, each problem is reported."""
    page = new_page()
    page.goto("/sign-in")
    page.evaluate("""() => {
        const main = document.querySelector("main");
        main.insertAdjacentHTML("beforeend", `
            <h2 id="choice">Approve or reject</h2>
            <input type="radio" id="choice" name="choice" value="yes"><label for="choice">Approve</label>
            <input type="text" id="unlabelled" name="unlabelled">
            <input type="text" id="named" name="named" aria-labelledby="nowhere">`);
    }""")

    problems, _ = label_problems(page)

    assert any(p.startswith("shares its id 'choice'") for p in problems), problems
    assert any(p.startswith("has no label") and 'id="choice"' in p for p in problems), problems
    assert any(p.startswith("has no label") and 'id="unlabelled"' in p for p in problems), problems
    assert any(p.startswith("is labelled by elements that do not exist ['nowhere']") for p in problems), problems
    assert not any("Email address" in p or 'id="email"' in p for p in problems), problems
