from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextArea
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class WithdrawForm(FlaskForm):
    reason = TextAreaField("Why are you withdrawing?", widget=GovTextArea(),
                           validators=[DataRequired("Enter the reason for withdrawing"), Length(max=500)])
    submit = SubmitField("Withdraw from the course", widget=GovSubmitInput())
