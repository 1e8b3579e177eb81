"""Input that could mislead or break a page: invisible characters in names, and ids too large for the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Person
from tests.pages import field_error
from tests.test_people import invite, person_by_email
from tests.test_people_import import HEADER, row_problems, upload


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\u2066", "\ufeff", "\u0007"])
def test_a_name_with_an_invisible_character_is_refused_beside_the_field(client, signed_in_admin, hidden):
    response = invite(client, name=f"Grace {hidden}smadA yekO")

    assert f"The name contains an invisible character (U+{ord(hidden):04X}" in field_error(response, "name")
    assert person_by_email("sam@example.org") is None


def test_names_are_kept_in_one_unicode_form(client, signed_in_admin):
    decomposed = "Zoe\u0301 Mun\u0303oz"  # each accent a combining character after its letter
    assert invite(client, name=decomposed).status_code == 302
    assert person_by_email("sam@example.org").name == "Zo\u00e9 Mu\u00f1oz"


def test_an_import_row_with_an_invisible_character_in_the_name_is_refused(client, signed_in_admin):
    preview = upload(client, HEADER + "ana@example.org,Ana \u202eAlves,E09000012,learner,,\n")

    [problem] = row_problems(preview)[2]
    assert problem.startswith("The name contains an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE)")
    assert db.session.scalar(select(Person).where(Person.email == "ana@example.org")) is None


@pytest.mark.parametrize("path", ["/apprenticeships/99999999999999999999", "/people/99999999999999999999",
                                  "/runs/2147483648", "/intakes/99999999999999999999/review",
                                  "/apprenticeships/1/off-the-job/99999999999999999999"])
def test_an_id_too_large_for_the_database_is_page_not_found(client, signed_in_admin, path):
    assert client.get(path).status_code == 404
