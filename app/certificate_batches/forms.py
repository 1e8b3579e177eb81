from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput
from wtforms import HiddenField, SubmitField


class IssueForm(FlaskForm):
    # Where the next chunk starts: the last achievement (enrolment or apprenticeship id) already gone through,
    # so a certificate that fails is reported once and does not hold up the rest.
    after = HiddenField(default="0")
    submit = SubmitField("Issue certificates", widget=GovSubmitInput())

    @property
    def after_id(self) -> int:
        text = (self.after.data or "").strip()
        return int(text) if text.isdigit() and len(text) < 12 else 0
