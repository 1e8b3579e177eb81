from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovFileInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import EmailField, HiddenField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class RolesForm(FlaskForm):
    roles = SelectMultipleField("Roles", widget=GovCheckboxesInput(), choices={},
                                validators=[DataRequired("Select at least one role")])
    scope = SelectMultipleField("Organisations they coordinate", widget=GovCheckboxesInput(), choices={})
    submit = SubmitField("Save roles", widget=GovSubmitInput())


class PersonForm(RolesForm):
    name = StringField("Full name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the person's full name"), Length(max=200)])
    email = EmailField("Email address", widget=GovTextInput(),
                       validators=[DataRequired("Enter an email address"), Length(max=320)])
    organisation = SelectField("Organisation", widget=GovSelect(), choices={}, coerce=str,
                               validators=[DataRequired("Select the person's organisation")])
    team = SelectField("Team (optional)", widget=GovSelect(), choices={}, coerce=str)
    submit = SubmitField("Create account and send invitation", widget=GovSubmitInput())


class DeactivateForm(FlaskForm):
    reason = TextAreaField("Why are you deactivating this account?", widget=GovTextArea(),
                           validators=[DataRequired("Enter why you are deactivating this account"), Length(max=500)])
    submit = SubmitField("Deactivate account", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that changes something: CSRF-protected, nothing else."""

    submit = SubmitField("Confirm", widget=GovSubmitInput())


class ImportUploadForm(FlaskForm):
    file = FileField("CSV file", widget=GovFileInput(), validators=[
        FileRequired("Select a CSV file"),
        FileAllowed(["csv"], "The selected file must be a CSV"),
    ])
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ImportConfirmForm(FlaskForm):
    # The checked file travels back with the confirmation and is checked again before anything is saved.
    content = HiddenField()
    submit = SubmitField("Create accounts and send invitations", widget=GovSubmitInput())
