"""Forms for placements and the supervisor's feedback."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovSelect, GovSubmitInput, GovTextArea
from wtforms import SelectField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.runs.forms import GovDateField
from app.services.placements import FEEDBACK_MAX, OBJECTIVES_MAX


class PlacementForm(FlaskForm):
    # Choices are filled by the view; anything posted is checked by the placements service, which explains
    # what is wrong (a deactivated supervisor, a KSB of another standard) rather than "Not a valid choice".
    team = SelectField("Host team", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                       validators=[DataRequired("Select the host team")])
    supervisor = SelectField("Supervisor", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                             validators=[DataRequired("Select the supervisor")])
    starts_on = GovDateField("Start date")
    ends_on = GovDateField("End date")
    objectives = TextAreaField("Objectives", widget=GovTextArea(), validators=[
        DataRequired("Enter the placement's objectives"),
        Length(max=OBJECTIVES_MAX, message=f"Objectives must be {OBJECTIVES_MAX:,} characters or fewer")])
    ksb_ids = SelectMultipleField("KSBs targeted (optional)", widget=GovCheckboxesInput(), choices={}, coerce=str,
                                  validate_choice=False)
    submit = SubmitField("Add placement", widget=GovSubmitInput())

    def validate_starts_on(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date the placement starts")

    def validate_ends_on(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date the placement ends")

    def validate_ksb_ids(self, field):
        if any(not value.isdigit() for value in field.data or []):
            raise ValidationError("Select KSBs from the list")

    @staticmethod
    def as_id(value: str | None) -> int | None:
        return int(value) if value and value.isdigit() else None


class FeedbackForm(FlaskForm):
    feedback = TextAreaField("Your feedback", widget=GovTextArea(), validators=[
        DataRequired("Enter your feedback on the placement"),
        Length(max=FEEDBACK_MAX, message=f"Feedback must be {FEEDBACK_MAX:,} characters or fewer")])
    submit = SubmitField("Save feedback", widget=GovSubmitInput())
