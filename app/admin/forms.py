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


class TeamForm(FlaskForm):
    name = StringField("Team name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the team's name"), Length(max=200)])
    submit = SubmitField("Add team", widget=GovSubmitInput())
