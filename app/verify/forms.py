from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovSubmitInput, GovTextInput
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, ValidationError

from app.services import verification

FORMAT_MESSAGE = f"Enter a code in the format {verification.CODE_FORMAT}"


class CodeForm(FlaskForm):
    code = StringField("Verification code", widget=GovTextInput(),
                       validators=[DataRequired("Enter the verification code")])
    submit = SubmitField("Check the code", widget=GovSubmitInput())
    normalised: str | None = None

    def validate_code(self, field):
        self.normalised = verification.normalise_code(field.data[:200])
        if self.normalised is None:
            raise ValidationError(FORMAT_MESSAGE)


class PdfForm(FlaskForm):
    file = FileField("Certificate file", widget=GovFileInput(), validators=[FileRequired("Select a PDF file")])
    submit = SubmitField("Check the file", widget=GovSubmitInput())
    content: bytes = b""

    def validate_file(self, field):
        self.content = field.data.read()
        if not self.content:
            raise ValidationError("The selected file is empty")
        if not verification.is_pdf(self.content):
            raise ValidationError("The selected file must be a PDF")
