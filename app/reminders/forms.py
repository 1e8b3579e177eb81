from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput
from wtforms import RadioField, SubmitField
from wtforms.validators import InputRequired


class ReminderSettingsForm(FlaskForm):
    non_essential = RadioField(
        "Do you want reminders that are not essential?", widget=GovRadioInput(),
        choices={"yes": "Yes, send me all reminders", "no": "No, send me essential reminders only"},
        validators=[InputRequired("Select whether you want reminders that are not essential")],
    )
    submit = SubmitField("Save reminder settings", widget=GovSubmitInput())
