"""Signing in and out, invitations and password resets."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.auth.forms import ChangePasswordForm, ForgotPasswordForm, SetPasswordForm, SignInForm
from app.extensions import db
from app.forms import add_service_error
from app.policy import public, signed_in
from app.services import ServiceError, accounts
from app.services.passwords import verify_password
from app.services.signing_in import SignInThrottled, authenticate
from app.services.tokens import LinkError, LinkPurpose, read_token

bp = Blueprint("auth", __name__)


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
    if form.validate_on_submit():
        try:
            person = authenticate(form.email.data, form.password.data, request.remote_addr or "")
        except ServiceError as error:
            add_service_error(form, error, "email")
            status = 429 if isinstance(error, SignInThrottled) else 200
        else:
            db.session.commit()
            session.clear()  # a fresh session on sign-in: no fixation
            session.permanent = True  # so the cookie carries the idle expiry from the start
            login_user(person)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/sign_in.html", title="Sign in", form=form), status


@bp.post("/sign-out")
@public
def sign_out():
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.normalise_email(form.email.data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            accounts.request_password_reset(form.email.data)
            db.session.commit()
            return render_template("auth/check_email.html", title="Check your email", email=form.email.data)
    return render_template("auth/forgot_password.html", title="Reset your password", form=form)


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
            accounts.set_password(person, form.password.data, form.confirm_password.data)
        except ServiceError as error:
            add_service_error(form, error, "password")
        else:
            db.session.commit()
            logout_user()
            session.clear()
            session.permanent = True
            login_user(person)
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
                db.session.commit()
                login_user(person)  # keep this session; the new session version ends the others
                flash("Your password has been changed. Other devices have been signed out.", "success")
                return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", title="Change your password", form=form)
