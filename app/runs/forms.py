from __future__ import annotations

import re
from datetime import date, time

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovDateInput,
    GovFileInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import EmailField, HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.fields import DateField
from wtforms.validators import DataRequired, Length, ValidationError

from app.models import RunKind

PARTS = ("day", "month", "year")
TIME_PATTERN = re.compile(r"^(\d{1,2})[:.](\d{2})$")


class GovDateField(DateField):
    """A day, month and year in three boxes. Always leaves three raw values for the widget, whatever was
    posted (a form that omits the boxes is treated as left empty), and explains what is wrong."""

    widget = GovDateInput()

    def process_formdata(self, valuelist):
        values = [(v or "").strip() for v in valuelist]
        self.raw_data = (values + ["", "", ""])[:3]
        self.data = None
        if len(values) > 3:
            raise ValueError(f"{self.label.text} must be a real date")
        if not any(self.raw_data):
            return
        missing = [part for part, value in zip(PARTS, self.raw_data, strict=True) if not value]
        if missing:
            raise ValueError(f"{self.label.text} must include a {' and a '.join(missing)}")
        day, month, year = self.raw_data
        if not (day.isdigit() and month.isdigit() and year.isdigit()) or len(year) != 4:
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2027")
        try:
            self.data = date(int(year), int(month), int(day))
        except ValueError:
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2027") from None


class TimeField(StringField):
    """A 24-hour time typed as 14:30."""

    widget = GovTextInput()
    parsed: time | None = None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.parsed = None
        text = (self.data or "").strip()
        if not text:
            return
        match = TIME_PATTERN.match(text)
        hour, minute = (int(match.group(1)), int(match.group(2))) if match else (99, 99)
        if hour > 23 or minute > 59:
            raise ValueError(f"{self.label.text} must be a real time in 24-hour format, like 14:30")
        self.parsed = time(hour, minute)


class OptionalIntegerField(StringField):
    """A whole number, or nothing."""

    widget = GovTextInput()
    number: int | None = None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.number = None
        text = (self.data or "").strip()
        if not text:
            return
        if not text.isdigit() or len(text) > 6:
            raise ValueError(f"{self.label.text} must be a whole number, like 30")
        self.number = int(text)


class RunForm(FlaskForm):
    name = StringField("Name of the run", widget=GovTextInput(),
                       validators=[DataRequired("Enter a name for the run, like 'Spring 2027'"), Length(max=200)])
    kind = RadioField("Type of run", widget=GovRadioInput(),
                      choices={RunKind.SELF_PACED.value: "Self-paced: open all the time, no dates or limit",
                               RunKind.SCHEDULED.value: "Scheduled: with dates, a deadline and a number of places"},
                      validate_choice=False)
    starts_on = GovDateField("Start date")
    ends_on = GovDateField("End date")
    enrolment_deadline = GovDateField("Enrolment deadline (optional)")
    capacity = OptionalIntegerField("Number of places (optional)")
    submit = SubmitField("Add run", widget=GovSubmitInput())

    def validate_kind(self, field):
        if field.data not in {k.value for k in RunKind}:
            raise ValidationError("Select the type of run")


class LiveSessionForm(FlaskForm):
    title = StringField("Title", widget=GovTextInput(),
                        validators=[DataRequired("Enter a title for the session"), Length(max=200)])
    day = GovDateField("Date")
    start_time = TimeField("Start time")
    end_time = TimeField("End time")
    location = StringField("Place (optional)", widget=GovTextInput(), validators=[Length(max=300)])
    online_url = StringField("Online link (optional)", widget=GovTextInput(), validators=[Length(max=500)])
    submit = SubmitField("Add live session", widget=GovSubmitInput())

    def validate_day(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date of the session")

    def validate_start_time(self, field):
        if field.parsed is None and not field.errors:
            raise ValidationError("Enter the start time, like 14:30")

    def validate_end_time(self, field):
        if field.parsed is None and not field.errors:
            raise ValidationError("Enter the end time, like 16:00")


class EnrolForm(FlaskForm):
    email = EmailField("Email address", widget=GovTextInput(),
                       validators=[DataRequired("Enter the email address of the person to enrol"), Length(max=320)])
    submit = SubmitField("Enrol", widget=GovSubmitInput())


class WithdrawForm(FlaskForm):
    reason = TextAreaField("Why are they withdrawing?", widget=GovTextArea(),
                           validators=[DataRequired("Enter the reason for withdrawing"), Length(max=500)])
    submit = SubmitField("Withdraw", widget=GovSubmitInput())


class ImportUploadForm(FlaskForm):
    file = FileField("CSV file", widget=GovFileInput(), validators=[
        FileRequired("Select a CSV file"),
        FileAllowed(["csv"], "The selected file must be a CSV"),
    ])
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ImportConfirmForm(FlaskForm):
    # The checked file travels back with the confirmation and is checked again before anything is saved.
    content = HiddenField()
    submit = SubmitField("Enrol everyone", widget=GovSubmitInput())
