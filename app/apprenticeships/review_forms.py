"""Forms for progress reviews and the gateway: recording a review, signing it, the employer's agreement."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovSubmitInput, GovTextArea
from wtforms import HiddenField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from app.models import Ksb, KsbProgressLevel, Rag, SigningParty
from app.runs.forms import GovDateField

TEXT_LIMIT = 5000
RAG_CHOICES = {
    Rag.GREEN.value: "Green: on track",
    Rag.AMBER.value: "Amber: some concerns, with actions to put them right",
    Rag.RED.value: "Red: at risk of not completing",
}
LEVEL_CHOICES = {"": "Select a level", **{level.value: level.label for level in KsbProgressLevel}}


def ksb_field_name(ksb: Ksb) -> str:
    return f"ksb_{ksb.id}"


class RecordReviewForm(FlaskForm):
    """The opening part of the form; ``record_review_form`` adds a level for each KSB of the standard, then the
    concerns and actions."""

    held_on = GovDateField("Date the review was held")
    rag = RadioField("RAG rating", widget=GovRadioInput(), choices=RAG_CHOICES, validate_choice=False)
    previous_actions = TextAreaField("Actions from the last review", widget=GovTextArea(),
                                     validators=[Length(max=TEXT_LIMIT)])

    ksb_fields: list[tuple[Ksb, str]] = []

    def validate_held_on(self, field):
        if field.data is None and not field.errors:
            raise ValidationError("Enter the date the review was held")

    def validate_rag(self, field):
        if field.data not in RAG_CHOICES:
            raise ValidationError("Select a RAG rating")

    def ksb_progress(self) -> dict[int, str]:
        return {ksb.id: self[name].data for ksb, name in self.ksb_fields}


def _level_validator(ksb: Ksb):
    def check(form, field):
        if field.data not in {level.value for level in KsbProgressLevel}:
            raise ValidationError(f"Select the progress on {ksb.code}")

    return check


def _closing_fields() -> dict:
    """The fields after the KSBs, made after them so that errors are listed in the order of the page."""
    return {
        "concerns": TextAreaField("Concerns (optional)", widget=GovTextArea(), validators=[Length(max=TEXT_LIMIT)]),
        "actions": TextAreaField("Actions agreed for before the next review", widget=GovTextArea(), validators=[
            DataRequired("Enter the actions agreed for before the next review"), Length(max=TEXT_LIMIT)]),
        "submit": SubmitField("Save the review", widget=GovSubmitInput()),
    }


def record_review_form(ksbs: list[Ksb], **kwargs) -> RecordReviewForm:
    """The review form with a select per KSB, named ``ksb_<id>``, between the previous actions and the
    concerns."""

    class Form(RecordReviewForm):
        pass

    fields = []
    for ksb in ksbs:
        name = ksb_field_name(ksb)
        setattr(Form, name, SelectField(f"Progress on {ksb.code}", widget=GovSelect(), choices=LEVEL_CHOICES,
                                        validate_choice=False, validators=[_level_validator(ksb)]))
        fields.append((ksb, name))
    for name, field in _closing_fields().items():
        setattr(Form, name, field)
    Form.ksb_fields = fields
    return Form(**kwargs)


class SignReviewForm(FlaskForm):
    # Errors link to the signing section of the page, which has this id.
    party = HiddenField(id="sign")

    def validate_party(self, field):
        if field.data not in {p.value for p in SigningParty}:
            raise ValidationError("Choose who you are signing as")


class GatewayAgreementForm(FlaskForm):
    # "agree" or "withdraw"; errors link to the gateway section of the page.
    decision = HiddenField(id="employer-agreement")

    def validate_decision(self, field):
        if field.data not in ("agree", "withdraw"):
            raise ValidationError("Choose whether to record or withdraw the employer's agreement")
