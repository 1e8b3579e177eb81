"""The form for adding or changing an intake."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from app.runs.forms import GovDateField
from app.services.intakes import NAME_MAX


class IntakeForm(FlaskForm):
    name = StringField("Name", widget=GovTextInput(), validators=[
        DataRequired("Enter a name for the intake, like 'September 2025'"),
        Length(max=NAME_MAX, message=f"The intake's name must be {NAME_MAX} characters or fewer")])
    starts_on = GovDateField("Start date")
    # Choices are filled by the view; the intakes service explains what is wrong with the person chosen.
    coordinator = SelectField("Coordinator", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                              validators=[DataRequired("Select the intake's coordinator")])
    submit = SubmitField("Add intake", widget=GovSubmitInput())

    def validate_starts_on(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date the intake starts")

    @property
    def coordinator_id(self) -> int | None:
        value = self.coordinator.data
        return int(value) if value and value.isdigit() else None
