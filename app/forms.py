"""Form helpers shared by every area."""

from __future__ import annotations

from flask_wtf import FlaskForm

from app.services import ServiceError


def add_service_error(form: FlaskForm, error: ServiceError, default_field: str | None = None) -> None:
    """Show a service's refusal beside the field it names (or the form's first field)."""
    name = error.field if error.field in form._fields else default_field
    if name is None:
        name = next(iter(form._fields))
    field = form._fields[name]
    # WTForms keeps errors as a tuple until validate() has run.
    field.errors = [*field.errors, error.message]
