"""Reminder settings for everyone signed in, and the reminder preview for admins."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from app import policy
from app.extensions import db
from app.reminders.forms import ReminderSettingsForm
from app.services import reminders

bp = Blueprint("reminders", __name__)
PAGE_SIZE = 50


@bp.route("/account/reminders", methods=["GET", "POST"])
@policy.signed_in
def settings():
    person = current_user._get_current_object()
    form = ReminderSettingsForm()
    if form.validate_on_submit():
        receive = form.non_essential.data == "yes"
        reminders.set_non_essential_reminders(person, person, receive)
        db.session.commit()
        flash("You will get all reminders." if receive else "You will get essential reminders only.", "success")
        return redirect(url_for("reminders.settings"))
    if not form.is_submitted():
        form.non_essential.data = "yes" if person.non_essential_reminders else "no"
    essential = [kind for kind in reminders.KINDS.values() if kind.essential]
    optional = [kind for kind in reminders.KINDS.values() if not kind.essential]
    return render_template("reminders/settings.html", title="Reminder settings", form=form, essential=essential,
                           optional=optional)


@bp.get("/admin/reminders/preview")
@policy.requires(policy.can_manage_scheduled_jobs)
def preview():
    items = reminders.preview()
    page = db.paginate(reminders.sent_reminders_query(), per_page=PAGE_SIZE, error_out=False)
    people = reminders.people_by_id(r.person_id for r in page.items)
    return render_template("reminders/preview.html", title="Reminder preview", items=items, page=page, people=people,
                           kinds=reminders.KINDS, daytime=reminders.DAYTIME_HOURS)
