from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextArea
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.services.certificates import MAX_REASON


class ReissueForm(FlaskForm):
    reason = TextAreaField("Why is the certificate being reissued?", widget=GovTextArea(), validators=[
        DataRequired("Enter why the certificate is being reissued, for example 'name corrected'"),
        Length(max=MAX_REASON, message=f"The reason must be {MAX_REASON} characters or fewer")])
    submit = SubmitField("Reissue certificate", widget=GovSubmitInput())


class RevokeForm(FlaskForm):
    reason = TextAreaField("Why is the certificate being revoked?", widget=GovTextArea(), validators=[
        DataRequired("Enter why the certificate is being revoked"),
        Length(max=MAX_REASON, message=f"The reason must be {MAX_REASON} characters or fewer")])
    submit = SubmitField("Revoke certificate", widget=GovSubmitInput())
