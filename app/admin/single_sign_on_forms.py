from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovPasswordInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class IdentityProviderForm(FlaskForm):
    issuer = StringField("Issuer", widget=GovTextInput(),
                         validators=[DataRequired("Enter the issuer address of the identity provider"),
                                     Length(max=500)])
    client_id = StringField("Client ID", widget=GovTextInput(),
                            validators=[DataRequired("Enter the client ID the identity provider gave Pathways"),
                                        Length(max=255)])
    # Never filled in from what is saved: the secret is not shown again.
    client_secret = PasswordField("Client secret", widget=GovPasswordInput(), validators=[Optional(),
                                                                                          Length(max=1000)])
    allowed_domains = TextAreaField("Email domains", widget=GovTextArea(),
                                    validators=[DataRequired("Enter at least one email domain, like council.gov.uk"),
                                                Length(max=2000)])
    tenant_id = StringField("Microsoft Entra tenant ID (optional)", widget=GovTextInput(),
                            validators=[Optional(), Length(max=64)])
    creates_learners = BooleanField("Give a learner account to someone signing in for the first time without one",
                                    widget=GovCheckboxInput())
    submit = SubmitField("Save single sign-on", widget=GovSubmitInput())


class RemoveIdentityProviderForm(FlaskForm):
    submit = SubmitField("Stop single sign-on", widget=GovSubmitInput())
