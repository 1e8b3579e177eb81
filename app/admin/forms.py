from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextInput
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.models import OrganisationKind


class OrganisationForm(FlaskForm):
    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the organisation's name"), Length(max=200)])
    code = StringField("Code", widget=GovTextInput(),
                       validators=[DataRequired("Enter a code for the organisation"), Length(max=20)])
    kind = RadioField("Type of organisation", widget=GovRadioInput(),
                      choices={k.value: k.label for k in OrganisationKind},
                      default=OrganisationKind.PARTNER.value,
                      validators=[DataRequired("Select the type of organisation")])
    submit = SubmitField("Add organisation", widget=GovSubmitInput())


class CapacityField(StringField):
    """How many apprentices a team can host at once: a whole number, 0 or more, or empty for no limit."""

    widget = GovTextInput()
    number: int | None = None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.number = None
        text = (self.data or "").strip()
        if text and (not (text.isascii() and text.isdigit()) or len(text) > 4):
            raise ValueError("Apprentice capacity must be a whole number, 0 or more, like 2, or empty for no limit")
        self.number = int(text) if text else None


class TeamForm(FlaskForm):
    name = StringField("Team name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the team's name"), Length(max=200)])
    apprentice_capacity = CapacityField("Apprentice capacity (optional)")
    submit = SubmitField("Add team", widget=GovSubmitInput())


class TeamCapacityForm(FlaskForm):
    """One per team on the organisation page; the view gives each field an id of its own."""

    apprentice_capacity = CapacityField("Apprentice capacity")
