"""Signing in and out, invitations and password resets."""

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from app.auth.forms import ChangePasswordForm, ForgotPasswordForm, SetPasswordForm, SignInForm
from app.extensions import db
from app.forms import add_service_error
from app.policy import public, signed_in
from app.services import ServiceError, accounts, sessions, single_sign_on
from app.services.passwords import verify_password
from app.services.signing_in import SignInThrottled, authenticate
from app.services.tokens import LinkError, LinkPurpose, read_token

bp = Blueprint("auth", __name__)
PASSWORD_NEEDED = "Enter your password"  # noqa: S105 (a message, not a password)


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    if target:
        parts = urlsplit(target)
        # Browsers read "\\" as "/" and drop tabs and newlines, so "/\\evil.example" would leave the site.
        plain = target.isprintable() and "\\" not in target
        if plain and not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("main.home")


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    status = 200
    try:
        g.form_action_origins = single_sign_on.form_action_origins()
    except SQLAlchemyError:
        # The page still shows while the database is away (signing in needs it, and says so when tried).
        db.session.rollback()
        g.form_action_origins = []
    valid = form.validate_on_submit()
    provider = single_sign_on.provider_for_email(form.email.data) if valid else None
    if provider is not None:
        # Their organisation signs them in: no password here.
        return sign_in_elsewhere(provider, form.email.data, _safe_next(request.args.get("next")))
    if form.is_submitted() and not form.password.data and not form.password.errors and (valid or form.email.errors):
        # Without an email Pathways cannot tell whether a password is needed: ask for both, as before.
        add_service_error(form, ServiceError(PASSWORD_NEEDED, field="password"))
    elif valid and form.password.data:
        try:
            person = authenticate(form.email.data, form.password.data, request.remote_addr or "")
        except ServiceError as error:
            add_service_error(form, error, "email")
            status = 429 if isinstance(error, SignInThrottled) else 200
        else:
            db.session.commit()
            target = _safe_next(request.args.get("next"))
            if multi_factor.needs_second_factor(person):
                # Not signed in yet: the code comes first.
                return redirect(multi_factor.begin(person, target))
            complete_sign_in(person)
            return redirect(target)
    return render_template("auth/sign_in.html", title="Sign in", form=form,
                           sign_out_elsewhere=session.get(SIGNED_OUT_PROVIDER)), status


def complete_sign_in(person) -> None:
    """The last step of signing in, once every factor is checked: a fresh session for ``person``, recorded on
    the server so that signing out ends it for every copy of the cookie."""
    key = sessions.start(person, request.user_agent.string, request.remote_addr or "")
    db.session.commit()
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True  # so the cookie carries the idle expiry from the start
    session[sessions.COOKIE_KEY] = key
    login_user(person)


@bp.post("/sign-out")
@public
def sign_out():
    key = session.get(sessions.COOKIE_KEY)
    provider = single_sign_on.linked_provider(current_user) if current_user.is_authenticated else None
    logout_user()
    sessions.end_current(key)  # a copy of the cookie stops working too
    db.session.commit()
    session.clear()
    if provider is not None:
        # Signed out of Pathways; the sign-in page offers to sign out of the council account too.
        session[SIGNED_OUT_PROVIDER] = provider.id
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            accounts.normalise_email(form.email.data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            try:
                accounts.request_password_reset(form.email.data, request.remote_addr or "")
            except ServiceError as error:  # too many requests: said alike for every address
                db.session.rollback()
                add_service_error(form, error, "email")
                status = 429
            else:
                db.session.commit()  # queued: the scheduler sends it, so a slow mail server holds up no request
                return render_template("auth/check_email.html", title="Check your email", email=form.email.data)
    return render_template("auth/forgot_password.html", title="Reset your password", form=form), status


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@public
def set_password(token: str):
    try:
        person, purpose = read_token(token)
    except LinkError as error:
        return render_template("auth/link_problem.html", title="There is a problem with your link",
                               message=error.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password_from_link(token, person, form.password.data, form.confirm_password.data)
        except ServiceError as error:
            add_service_error(form, error, "password")
        else:
            db.session.commit()
            logout_user()
            if multi_factor.needs_second_factor(person):
                # A reset link proves the email, not the second factor: the code is still asked for.
                step = multi_factor.begin(person, url_for("main.home"))
                flash("Your password is set. Now finish signing in.", "success")
                return redirect(step)
            complete_sign_in(person)
            flash("Your password is set. You are signed in.", "success")
            return redirect(url_for("main.home"))
    heading = "Set up your account" if purpose is LinkPurpose.INVITATION else "Choose a new password"
    return render_template("auth/set_password.html", title=heading, form=form, person=person)


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current_password.data):
            add_service_error(form, ServiceError("Your current password is not correct", field="current_password"))
        else:
            person = current_user._get_current_object()  # the Person, not the proxy, so the audit names it
            try:
                accounts.set_password(person, form.password.data, form.confirm_password.data)
            except ServiceError as error:
                add_service_error(form, error, "password")
            else:
                # This session carries on under the new session version; every other one ends.
                sessions.keep_after_password_change(person, session.get(sessions.COOKIE_KEY))
                db.session.commit()
                login_user(person)
                flash("Your password has been changed. Other devices have been signed out.", "success")
                return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", title="Change your password", form=form)


@bp.get("/account/sessions")
@signed_in
def list_sessions():
    key = session.get(sessions.COOKIE_KEY)
    return render_template("auth/sessions.html", title="Your sessions",
                           records=sessions.active_sessions(current_user, key),
                           is_current=lambda record: sessions.is_current(record, key), device=sessions.device,
                           idle_minutes=int(sessions.idle_lifetime().total_seconds() // 60),
                           absolute_hours=int(sessions.absolute_lifetime().total_seconds() // 3600))


@bp.post("/account/sessions/<int:session_id>/sign-out")
@signed_in
def end_session(session_id: int):
    person = current_user._get_current_object()
    try:
        record = sessions.end_other(person, session.get(sessions.COOKIE_KEY), session_id)
    except sessions.SessionNotFound:
        abort(404)
    db.session.commit()
    flash(f"You have signed out of {sessions.describe(record)}.", "success")
    return redirect(url_for("auth.list_sessions"))


@bp.post("/account/sessions/sign-out-others")
@signed_in
def end_other_sessions():
    ended = sessions.end_others(current_user._get_current_object(), session.get(sessions.COOKIE_KEY))
    db.session.commit()
    if ended:
        flash(f"You have signed out of {len(ended)} other session{'s' if len(ended) != 1 else ''}.", "success")
    else:
        flash("You are not signed in anywhere else.", "info")
    return redirect(url_for("auth.list_sessions"))


# The second step of signing in registers its routes on ``bp``, and so does signing in with an organisation's
# identity provider.
from app.auth import multi_factor  # noqa: E402
from app.auth.single_sign_on import SIGNED_OUT_PROVIDER, sign_in_elsewhere  # noqa: E402
