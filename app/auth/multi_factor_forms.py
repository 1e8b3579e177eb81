from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextArea, GovTextInput
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.services import multi_factor


def _valid_code(_form, field):
    problem = multi_factor.code_problem(field.data)
    if problem:
        raise ValidationError(problem)


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", widget=GovTextInput(), validators=[_valid_code])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class SetUpForm(CodeForm):
    submit = SubmitField("Finish setting up", widget=GovSubmitInput())


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField("Recovery code", widget=GovTextInput())
    submit = SubmitField("Continue", widget=GovSubmitInput())

    def validate_recovery_code(self, field):
        if not multi_factor.clean_recovery_code(field.data):
            raise ValidationError(multi_factor.RECOVERY_NEEDED)


class ResetForm(FlaskForm):
    reason = TextAreaField("Why are you resetting it? (optional)", widget=GovTextArea(),
                           validators=[Length(max=500, message="Reason must be 500 characters or fewer")])
    submit = SubmitField("Reset sign-in with an authenticator app", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that changes something: CSRF-protected, nothing else."""
