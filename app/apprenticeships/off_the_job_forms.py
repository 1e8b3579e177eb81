"""Forms for off-the-job hours: logging an activity, deciding one, approving many."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovFileInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
)
from wtforms import HiddenField, RadioField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import ValidationError

from app.runs.forms import GovDateField, OptionalIntegerField
from app.services.off_the_job import DESCRIPTION_MAX, REASON_MAX

MAX_HOURS_FIELD = 24


class LogOtjForm(FlaskForm):
    occurred_on = GovDateField("Date of the activity")
    hours = OptionalIntegerField("Hours")
    minutes = OptionalIntegerField("Minutes")
    activity_type = RadioField("Type of activity", widget=GovRadioInput(), choices={}, validate_choice=False)
    description = TextAreaField("What did you do and what did you learn?", widget=GovCharacterCount())
    # Rendered by the template, grouped into knowledge, skills and behaviours; the service checks each
    # KSB belongs to the apprentice's own standard.
    ksb_ids = SelectMultipleField("Knowledge, skills and behaviours this built", coerce=int, choices={},
                                  validate_choice=False)
    evidence = FileField("Evidence (optional)", widget=GovFileInput())
    submit = SubmitField("Log hours", widget=GovSubmitInput())

    def validate_occurred_on(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date of the activity")

    def validate_hours(self, field):
        if field.errors or self.minutes.process_errors:
            return
        if field.number is not None and field.number > MAX_HOURS_FIELD:
            raise ValidationError(f"Hours must be {MAX_HOURS_FIELD} or fewer")
        if not (field.number or self.minutes.number):
            raise ValidationError("Enter how long the activity took, in hours and minutes")

    def validate_minutes(self, field):
        if field.number is not None and field.number > 59:
            raise ValidationError("Minutes must be 59 or fewer: enter whole hours in the hours box")

    def validate_activity_type(self, field):
        if not field.data or field.data not in field.choices:
            raise ValidationError("Select the type of activity")

    def validate_description(self, field):
        text = (field.data or "").strip()
        if not text:
            raise ValidationError("Describe what you did and what you learnt")
        if len(text) > DESCRIPTION_MAX:
            raise ValidationError(f"The description must be {DESCRIPTION_MAX:,} characters or fewer")

    def validate_ksb_ids(self, field):
        if not field.data:
            raise ValidationError("Select at least one knowledge, skill or behaviour this activity built")

    @property
    def total_minutes(self) -> int:
        return (self.hours.number or 0) * 60 + (self.minutes.number or 0)

    @property
    def upload(self):
        """The chosen file, or None when none was chosen."""
        data = self.evidence.data
        return data if data is not None and getattr(data, "filename", "") else None


class DecisionForm(FlaskForm):
    decision = RadioField("Do you approve these hours?", widget=GovRadioInput(),
                          choices={"approve": "Approve", "reject": "Reject"}, validate_choice=False)
    reason = TextAreaField("Reason for rejecting", widget=GovTextArea())
    return_to = HiddenField()
    submit = SubmitField("Save decision", widget=GovSubmitInput())

    def validate_decision(self, field):
        if field.data not in ("approve", "reject"):
            raise ValidationError("Select whether to approve or reject these hours")

    def validate_reason(self, field):
        if self.decision.data == "reject" and len((field.data or "").strip()) > REASON_MAX:
            raise ValidationError(f"The reason must be {REASON_MAX:,} characters or fewer")


class BulkApproveForm(FlaskForm):
    activity_ids = SelectMultipleField("Hours to approve", coerce=int, choices={}, validate_choice=False)
    submit = SubmitField("Approve selected", widget=GovSubmitInput())

    def validate_activity_ids(self, field):
        if not field.data:
            raise ValidationError("Select the hours to approve")
