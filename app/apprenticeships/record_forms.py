"""Forms for the apprenticeship record: adding it, correcting it, and changing its status."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.models import ApprenticeshipStatus, EnglishMaths
from app.runs.forms import GovDateField, OptionalIntegerField

S = ApprenticeshipStatus

# What each allowed change is called, and what it means, for the person choosing it.
TRANSITION_TEXT: dict[tuple[ApprenticeshipStatus, ApprenticeshipStatus], tuple[str, str]] = {
    (S.ACTIVE, S.BREAK_IN_LEARNING): (
        "Start a break in learning",
        "Agreed with the apprentice, who intends to return; not for absences of 4 weeks or less. "
        "No off-the-job hours can be logged during the break."),
    (S.ACTIVE, S.GATEWAY): (
        "Move to gateway",
        "The employer and provider agree the apprentice is ready for end-point assessment. "
        "Every item of the gateway checklist must be met."),
    (S.ACTIVE, S.WITHDRAWN): (
        "Withdraw",
        "The apprentice has left the apprenticeship. The actual end date becomes the day of their last "
        "approved off-the-job hours."),
    (S.BREAK_IN_LEARNING, S.ACTIVE): (
        "Return from the break in learning",
        "The apprentice is back in learning from the date below. The planned end date moves later by the "
        "length of the break."),
    (S.BREAK_IN_LEARNING, S.WITHDRAWN): (
        "Withdraw",
        "The apprentice will not return. The actual end date becomes the day of their last approved "
        "off-the-job hours."),
    (S.GATEWAY, S.END_POINT_ASSESSMENT): (
        "Start end-point assessment",
        "The end-point assessment organisation has started the assessment."),
    (S.GATEWAY, S.ACTIVE): (
        "Back to learning",
        "The apprentice is not ready for assessment yet and goes back to learning."),
    (S.END_POINT_ASSESSMENT, S.COMPLETED): (
        "Record completion",
        "The apprentice passed the end-point assessment. Record the grade they achieved."),
}

ENGLISH_MATHS_CHOICES = {e.value: e.label for e in EnglishMaths}


def _required_date(message: str):
    def check(form, field):
        if field.data is None and not field.errors:
            raise ValidationError(message)
    return check


class _RecordFields(FlaskForm):
    # Choices are filled by the view; the service explains anything wrong with what is posted.
    employer = SelectField("Employer", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                           validators=[DataRequired("Select the employer")])
    intake = SelectField("Intake (optional)", widget=GovSelect(), choices={}, coerce=str, validate_choice=False)
    training_provider = StringField("Training provider", widget=GovTextInput(), validators=[
        DataRequired("Enter the name of the training provider"),
        Length(max=200, message="The training provider's name must be 200 characters or fewer")])
    starts_on = GovDateField("Start date", validators=[_required_date("Enter the start date")])
    planned_end_on = GovDateField("Planned end date", validators=[_required_date("Enter the planned end date")])
    weekly_hours = StringField("Contracted weekly hours", widget=GovTextInput(),
                               validators=[DataRequired("Enter the contracted weekly hours, like 37.5")])
    prior_learning_hours = OptionalIntegerField("Recognised prior learning in hours (optional)")
    english_maths = RadioField("English and maths", widget=GovRadioInput(), choices=ENGLISH_MATHS_CHOICES,
                               validate_choice=False)
    english_maths_note = TextAreaField("Note on the English and maths decision", widget=GovTextArea(),
                                       validators=[Length(max=1000)])

    def validate_english_maths(self, field):
        if field.data not in ENGLISH_MATHS_CHOICES:
            raise ValidationError("Select the English and maths decision")

    @staticmethod
    def as_id(value: str | None) -> int | None:
        return int(value) if value and value.isdigit() else None


class ApprenticeshipForm(_RecordFields):
    apprentice = SelectField("Apprentice", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                             validators=[DataRequired("Select the apprentice")])
    standard_version = SelectField("Standard", widget=GovSelect(), choices={}, coerce=str, validate_choice=False,
                                   validators=[DataRequired("Select the standard")])
    otj_override_hours = OptionalIntegerField("Planned off-the-job hours, if not the rule set's figure (optional)")
    otj_override_reason = TextAreaField("Reason for a different figure", widget=GovTextArea(),
                                        validators=[Length(max=1000)])
    submit = SubmitField("Add apprenticeship", widget=GovSubmitInput())


class ApprenticeshipEditForm(_RecordFields):
    planned_otj_hours = OptionalIntegerField("Planned off-the-job hours (optional)")
    otj_change_reason = TextAreaField("Reason for changing the planned off-the-job hours", widget=GovTextArea(),
                                      validators=[Length(max=1000)])
    submit = SubmitField("Save changes", widget=GovSubmitInput())


class StatusForm(FlaskForm):
    to_status = RadioField("What has changed?", widget=GovRadioInput(), choices={}, validate_choice=False)
    effective_on = GovDateField("Date the change takes effect",
                                validators=[_required_date("Enter the date the change takes effect")])
    reason = TextAreaField("Reason", widget=GovTextArea(), validators=[
        DataRequired("Enter the reason for the change"), Length(max=2000)])
    grade = SelectField("Grade", widget=GovSelect(), choices={}, coerce=str, validate_choice=False)
    submit = SubmitField("Change status", widget=GovSubmitInput())

    def validate_to_status(self, field):
        if field.data not in {s.value for s in ApprenticeshipStatus}:
            raise ValidationError("Select what has changed")
