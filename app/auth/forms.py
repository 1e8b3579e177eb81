from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length, Optional


class SignInForm(FlaskForm):
    email = EmailField(
        "Email address", widget=GovTextInput(), validators=[DataRequired("Enter your email address"), Length(max=320)]
    )
    # Not needed by someone whose organisation signs them in (single sign-on): the view asks for it otherwise.
    password = PasswordField("Password", widget=GovPasswordInput(), validators=[Optional(), Length(max=256)])
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email address", widget=GovTextInput(), validators=[DataRequired("Enter your email address"), Length(max=320)]
    )
    submit = SubmitField("Send me a link", widget=GovSubmitInput())


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", widget=GovPasswordInput(),
                             validators=[DataRequired("Enter a new password")])
    confirm_password = PasswordField("Confirm new password", widget=GovPasswordInput(),
                                     validators=[DataRequired("Enter the new password again")])
    submit = SubmitField("Set password", widget=GovSubmitInput())


class ChangePasswordForm(SetPasswordForm):
    current_password = PasswordField("Current password", widget=GovPasswordInput(),
                                     validators=[DataRequired("Enter your current password")])
    submit = SubmitField("Change password", widget=GovSubmitInput())
