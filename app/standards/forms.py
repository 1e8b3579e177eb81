"""Forms for adding a standard, or a new version of one, with its KSBs."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import RadioField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.services.standards import EPA_GRADES, LEVELS

GRADE_CHOICES = {grade: grade.capitalize() for grade in EPA_GRADES}
LEVEL_CHOICES = {str(level): f"Level {level}" for level in LEVELS}


class WholeNumberField(StringField):
    """A whole number, or nothing; ``number`` holds it."""

    widget = GovTextInput()
    number: int | None = None

    def __init__(self, label=None, validators=None, *, what: str, example: str, required: bool = False, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.what, self.example, self.required = what, example, required

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.number = None
        text = (self.data or "").strip().replace(",", "")
        if not text:
            return
        if not text.isdigit() or len(text) > 6:
            raise ValueError(f"{self.what} must be a whole number, like {self.example}")
        self.number = int(text)

    def post_validate(self, form, validation_stopped):
        if self.required and self.number is None and not self.errors:
            self.errors.append(f"Enter {self.what.lower()}, like {self.example}")


class _StandardFields(FlaskForm):
    # Declared before the version's fields, so they come first on the page and in the error summary.
    reference = StringField("Reference", widget=GovTextInput(), validators=[
        DataRequired("Enter the reference as ST and four digits, like ST0116"), Length(max=10)])
    title = StringField("Title", widget=GovTextInput(), validators=[
        DataRequired("Enter the standard's title, like Software developer"),
        Length(max=200, message="The title must be 200 characters or fewer")])
    level = RadioField("Level", widget=GovRadioInput(), choices=LEVEL_CHOICES, validate_choice=False)
    route = StringField("Route", widget=GovTextInput(), default="Digital", validators=[
        DataRequired("Enter the standard's route, like Digital"),
        Length(max=100, message="The route must be 100 characters or fewer")])

    def validate_level(self, field):
        if field.data not in LEVEL_CHOICES:
            raise ValidationError("Select the standard's level")


class StandardVersionForm(FlaskForm):
    version = StringField("Version", widget=GovTextInput(), validators=[
        DataRequired("Enter the version number, like 1.1"),
        Length(max=10, message="Enter the version number, like 1.1")])
    lars_code = WholeNumberField("LARS code (optional)", what="The LARS code", example="154")
    typical_duration_months = WholeNumberField("Typical duration in months", what="The typical duration in months",
                                               example="24", required=True)
    otj_minimum_hours = WholeNumberField("Published minimum off-the-job hours (optional)",
                                         what="The published minimum off-the-job hours", example="326")
    epa_grades = SelectMultipleField("Grades of the end-point assessment", widget=GovCheckboxesInput(),
                                     choices=GRADE_CHOICES, validate_choice=False)
    ksb_text = TextAreaField("Knowledge, skills and behaviours", widget=GovTextArea(), validators=[
        DataRequired("Enter the KSBs, one a line, like 'K1 Stages of the software development life cycle'"),
        Length(max=30000, message="The KSBs must be 30,000 characters or fewer")])
    submit = SubmitField("Add version", widget=GovSubmitInput())

    def validate_epa_grades(self, field):
        if not field.data:
            raise ValidationError("Select the grades the end-point assessment allows, including fail and pass")


class NewStandardForm(_StandardFields, StandardVersionForm):
    submit = SubmitField("Add standard", widget=GovSubmitInput())
