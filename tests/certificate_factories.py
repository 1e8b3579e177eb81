"""Completed enrolments and apprenticeships made straight from the models, and their certificates, for tests
of issuing, downloading, checking and cohorts. Completion is set directly (no certificate is issued by it);
``issue_*`` issue one and commit."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import datetime, time, timedelta
from itertools import count
from pathlib import Path

from app.extensions import db
from app.models import Apprenticeship, ApprenticeshipStatus, Certificate, Enrolment, EnrolmentStatus, Person
from app.services import certificates, clock
from tests.apprenticeship_factories import make_apprentice, make_apprenticeship, make_placement
from tests.course_factories import enrol, make_learner, make_learning_course, make_run

_numbers = count(1)

HACKNEY, TOWER_HAMLETS, ISLINGTON = "E09000012", "E09000030", "E09000019"


def make_completed_enrolment(person: Person | None = None, *, course=None, run=None, run_name: str = "Spring 2026",
                             cpd_hours: str = "4", days_ago: int = 1, organisation_code: str = HACKNEY) -> Enrolment:
    """An enrolment completed ``days_ago`` days ago with the course's CPD hours credited."""
    course = course or make_learning_course(f"leading-digital-change-{next(_numbers)}", cpd_hours=cpd_hours)
    run = run or make_run(course, name=run_name)
    person = person or make_learner(organisation_code=organisation_code)
    enrolment = enrol(person, run)
    day = clock.today() - timedelta(days=days_ago)
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = datetime.combine(day, time(12), tzinfo=clock.LONDON)
    enrolment.cpd_hours_credited = course.cpd_hours
    db.session.commit()
    return enrolment


def make_completed_apprenticeship(apprentice: Person | None = None, *,
                                  hosts: tuple[str, ...] = (HACKNEY, TOWER_HAMLETS), grade: str = "distinction",
                                  employer_code: str = HACKNEY,
                                  supervisors: tuple[Person, ...] = (), intake=None,
                                  status: ApprenticeshipStatus = ApprenticeshipStatus.COMPLETED) -> Apprenticeship:
    """An apprenticeship with one placement (of 120 days, one after another) per host in ``hosts``, completed
    yesterday with ``grade`` (or left at ``status``, e.g. END_POINT_ASSESSMENT, to complete it in a test)."""
    apprentice = apprentice or make_apprentice(f"completed-apprentice-{next(_numbers)}@example.org")
    starts_on = clock.today() - timedelta(days=120 * len(hosts) + 30)
    apprenticeship = make_apprenticeship(apprentice, starts_on=starts_on, employer_code=employer_code, intake=intake,
                                         schedule=False)
    for index, host in enumerate(hosts):
        begins = starts_on + timedelta(days=120 * index)
        make_placement(apprenticeship, host_code=host, starts_on=begins, ends_on=begins + timedelta(days=119),
                       supervisor=supervisors[index] if index < len(supervisors) else None)
    apprenticeship.status = status
    if status is ApprenticeshipStatus.COMPLETED:
        apprenticeship.grade = grade
        apprenticeship.actual_end_on = clock.today() - timedelta(days=1)
    db.session.commit()
    return apprenticeship


def issue_course_certificate(enrolment: Enrolment | None = None, **kwargs) -> Certificate:
    """The certificate of ``enrolment`` (by default a new completed one), issued and committed."""
    certificate = certificates.issue_for_enrolment(enrolment or make_completed_enrolment(**kwargs))
    db.session.commit()
    return certificate


def issue_apprenticeship_certificate(apprenticeship: Apprenticeship | None = None, **kwargs) -> Certificate:
    certificate = certificates.issue_for_apprenticeship(apprenticeship or make_completed_apprenticeship(**kwargs))
    db.session.commit()
    return certificate


def pdf_text(content: bytes) -> str:
    """The text of a PDF as poppler's pdftotext reads it (in drawing order), on one line."""
    result = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True,
                            check=True)
    return " ".join(result.stdout.decode("utf-8").split())


def qr_codes(content: bytes) -> list[str]:
    """What the QR codes on the first page say, read from a 150 dpi image by zbarimg."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "certificate.pdf"
        path.write_bytes(content)
        subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(path), str(Path(folder) / "page")],
                       check=True, capture_output=True)
        image = next(Path(folder).glob("page*.png"))
        result = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, check=False)
    return [line for line in result.stdout.decode("utf-8").splitlines() if line]
