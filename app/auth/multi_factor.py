"""The second step of signing in (a code from an authenticator app, or a recovery code), setting an app up,
asking again for a recent code before changes that matter, and an admin's reset.

Between the password and the code nobody is signed in: the session holds only who passed the password, until
when, and where they were going (``PENDING``). ``complete_sign_in`` runs after the code, and the session then
keeps when the last code was accepted (``CHECKED_AT``), which step-up checks read."""

from __future__ import annotations

import base64
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from app import policy
from app.auth.multi_factor_forms import CodeForm, ConfirmForm, RecoveryCodeForm, ResetForm, SetUpForm
from app.auth.routes import _safe_next, bp, complete_sign_in
from app.extensions import db
from app.forms import add_service_error
from app.models import Person
from app.models.types import utcnow
from app.services import ServiceError, multi_factor
from app.services.people import get_manageable_person

PENDING = "second_factor_pending"
SETUP = "second_factor_setup"
CHECKED_AT = "second_factor_at"
# Someone setting an app up for the first time may need to install one first.
SETUP_PENDING_MINUTES = 15
TIMED_OUT = "Your sign-in timed out. Sign in again."
# Pages that stay open to someone signed in whose session has no second factor yet: the way to give one.
OPEN_WITHOUT_SECOND_FACTOR = {"static", "main.healthz", "main.readyz", "auth.sign_out", "auth.second_factor_code",
                              "auth.second_factor_recovery", "auth.second_factor_set_up"}


# The session ----------------------------------------------------------------------------------------------


def needs_second_factor(person: Person) -> bool:
    return multi_factor.required_for(person) or multi_factor.second_factor_of(person) is not None


def begin(person: Person, next_url: str) -> str:
    """The password is right: remember who passed it (not signed in) and where the next step is."""
    has_one = multi_factor.second_factor_of(person) is not None
    minutes = multi_factor.PENDING_MINUTES if has_one else SETUP_PENDING_MINUTES
    session.clear()  # nothing from before the password carries on
    session[PENDING] = {"person_id": person.id, "version": person.session_version, "next": next_url,
                        "until": (utcnow() + timedelta(minutes=minutes)).timestamp()}
    return url_for("auth.second_factor_code" if has_one else "auth.second_factor_set_up")


def _pending_person() -> Person | None:
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    person = None
    if utcnow().timestamp() <= pending.get("until", 0):
        person = db.session.get(Person, pending.get("person_id"))
    if person is None or not person.active or person.session_version != pending.get("version"):
        session.pop(PENDING, None)
        flash(TIMED_OUT, "info")
        return None
    return person


def _step() -> tuple[Person, bool] | None:
    """Who is giving a code: someone signed in (asked again), or someone between password and code."""
    if current_user.is_authenticated:
        return current_user._get_current_object(), True
    person = _pending_person()
    return (person, False) if person is not None else None


def _finish(person: Person, signed_in: bool) -> str:
    """The code is right: sign in (or note the fresh check) and say where to go."""
    if signed_in:
        target = _safe_next(request.args.get("next"))
    else:
        target = _safe_next(session.get(PENDING, {}).get("next"))
        complete_sign_in(person)  # a fresh session, without the pending step
    session[CHECKED_AT] = utcnow().timestamp()
    return target


def checked_recently() -> bool:
    at = session.get(CHECKED_AT)
    return isinstance(at, int | float) and utcnow().timestamp() - at <= multi_factor.STEP_UP_MINUTES * 60


def _here() -> str:
    """This page's address, to come back to after a code (a form's page, for a POST)."""
    if request.method == "GET" and request.query_string:
        return f"{request.path}?{request.query_string.decode('latin-1')}"
    return request.path


def ask_again(back_to: str):
    flash(f"Enter a code from your authenticator app to carry on. Pathways asks again for changes like this when "
          f"your last code is more than {multi_factor.STEP_UP_MINUTES} minutes old.", "info")
    return redirect(url_for("auth.second_factor_code", next=back_to))


def recent_second_factor(view):
    """For changes that matter: ask for a code again when the last one is older than STEP_UP_MINUTES, then come
    back to this page (a form's page, for a POST: its answers are asked for again)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not checked_recently():
            return ask_again(_here())
        return view(*args, **kwargs)

    return wrapper


@bp.before_app_request
def second_factor_first():
    """Someone who must use a second factor reaches no page until their session has one: a session from
    before they needed it (a role given since), or one made another way."""
    if request.endpoint in OPEN_WITHOUT_SECOND_FACTOR or CHECKED_AT in session or not session.get("_user_id"):
        return None
    if not current_user.is_authenticated or not multi_factor.required_for(current_user):
        return None
    if multi_factor.second_factor_of(current_user) is None:
        return redirect(url_for("auth.second_factor_set_up", next=_here()))
    return redirect(url_for("auth.second_factor_code", next=_here()))


@bp.app_template_global()
def second_factor_of(person: Person):
    return multi_factor.second_factor_of(person)


@bp.app_template_global()
def second_factor_required(person: Person) -> bool:
    return multi_factor.required_for(person)


# The code step ---------------------------------------------------------------------------------------------


def _to_sign_in():
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-in/code", methods=["GET", "POST"])
@policy.public
def second_factor_code():
    step = _step()
    if step is None:
        return _to_sign_in()
    person, signed_in = step
    if multi_factor.second_factor_of(person) is None:
        if not signed_in and not multi_factor.required_for(person):
            # Their app was reset meanwhile and they may do without: the password is enough.
            target = _safe_next(session.get(PENDING, {}).get("next"))
            complete_sign_in(person)
            return redirect(target)
        return redirect(url_for("auth.second_factor_set_up", next=request.args.get("next")))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            multi_factor.check_code(person, form.code.data)
        except ServiceError as error:
            db.session.commit()  # a wrong code counts
            add_service_error(form, error, "code")
            status = 429 if isinstance(error, multi_factor.CodesThrottled) else 200
        else:
            db.session.commit()
            return redirect(_finish(person, signed_in))
    return render_template("auth/mfa_code.html", title="Enter the code from your authenticator app", form=form,
                           signed_in=signed_in, next=request.args.get("next")), status


@bp.route("/sign-in/recovery-code", methods=["GET", "POST"])
@policy.public
def second_factor_recovery():
    step = _step()
    if step is None:
        return _to_sign_in()
    person, signed_in = step
    if multi_factor.second_factor_of(person) is None:
        return redirect(url_for("auth.second_factor_set_up", next=request.args.get("next")))
    form = RecoveryCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            left = multi_factor.use_recovery_code(person, form.recovery_code.data)
        except ServiceError as error:
            db.session.commit()
            add_service_error(form, error, "recovery_code")
            status = 429 if isinstance(error, multi_factor.CodesThrottled) else 200
        else:
            db.session.commit()
            target = _finish(person, signed_in)
            flash(f"You used a recovery code; you have {left} left. If you have lost your phone, set up a new "
                  "authenticator app now, under \u201cSign in with an authenticator app\u201d.",
                  "success" if left > 3 else "info")
            return redirect(target)
    return render_template("auth/mfa_recovery.html", title="Enter a recovery code", form=form,
                           signed_in=signed_in, next=request.args.get("next")), status


# Setting an app up ----------------------------------------------------------------------------------------


def _setup_secret(person: Person) -> str:
    """The secret being set up in this session: the same one until it is confirmed, so reloading the page does
    not undo a scan, and never one another session started."""
    held = session.get(SETUP)
    if isinstance(held, dict) and held.get("person_id") == person.id:
        try:
            return multi_factor.unseal(held["sealed"], person.id)
        except (ServiceError, KeyError, TypeError):
            pass
    secret = multi_factor.new_secret()
    session[SETUP] = {"person_id": person.id, "sealed": multi_factor.seal(secret, person.id)}
    return secret


def _qr_code(uri: str) -> str:
    """The setup address as a QR code, an SVG in a data: address (allowed by the content security policy)."""
    import qrcode
    from qrcode.image.svg import SvgPathFillImage

    svg = qrcode.make(uri, image_factory=SvgPathFillImage, box_size=10, border=4).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


@bp.route("/account/authenticator/set-up", methods=["GET", "POST"])
@policy.public
def second_factor_set_up():
    step = _step()
    if step is None:
        return _to_sign_in()
    person, signed_in = step
    replacing = multi_factor.second_factor_of(person) is not None
    if replacing and not signed_in:
        return redirect(url_for("auth.second_factor_code"))  # the password alone never replaces an app
    if replacing and not checked_recently():
        return redirect(url_for("auth.second_factor_code", next=_here()))
    secret = _setup_secret(person)
    form = SetUpForm()
    if form.validate_on_submit():
        try:
            codes = multi_factor.set_up(person, secret, form.code.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "code")
        else:
            db.session.commit()
            session.pop(SETUP, None)
            target = _finish(person, signed_in)
            if signed_in and urlsplit(target).path == "/":
                target = url_for("auth.second_factor")
            return render_template("auth/mfa_recovery_codes.html", title="Save your recovery codes", codes=codes,
                                   next=target, first=not replacing)
    return render_template("auth/mfa_setup.html", title="Set up an authenticator app", form=form,
                           qr_code=_qr_code(multi_factor.provisioning_uri(person, secret)),
                           secret=multi_factor.grouped(secret), required=multi_factor.required_for(person),
                           signed_in=signed_in, replacing=replacing)


# The account page ---------------------------------------------------------------------------------------------


@bp.get("/account/authenticator")
@policy.signed_in
def second_factor():
    person = current_user._get_current_object()
    factor = multi_factor.second_factor_of(person)
    return render_template("auth/mfa_account.html", title="Sign in with an authenticator app", factor=factor,
                           codes_left=multi_factor.unused_recovery_codes(factor) if factor else 0,
                           codes_made=multi_factor.RECOVERY_CODE_COUNT,
                           required=multi_factor.required_for(person), confirm_form=ConfirmForm())


@bp.post("/account/authenticator/recovery-codes")
@policy.signed_in
def second_factor_new_recovery_codes():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not checked_recently():
        return ask_again(url_for("auth.second_factor"))
    person = current_user._get_current_object()
    try:
        codes = multi_factor.renew_recovery_codes(person)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("auth.second_factor"))
    db.session.commit()
    return render_template("auth/mfa_recovery_codes.html", title="Save your recovery codes", codes=codes,
                           next=url_for("auth.second_factor"), first=False)


@bp.post("/account/authenticator/turn-off")
@policy.signed_in
def second_factor_turn_off():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not checked_recently():
        return ask_again(url_for("auth.second_factor"))
    try:
        multi_factor.turn_off(current_user._get_current_object())
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash("You no longer use an authenticator app to sign in.", "success")
    return redirect(url_for("auth.second_factor"))


# An admin's reset ---------------------------------------------------------------------------------------------


@bp.route("/people/<int:person_id>/authenticator/reset", methods=["GET", "POST"])
@policy.requires(policy.is_admin)
@recent_second_factor
def second_factor_reset(person_id: int):
    person = get_manageable_person(current_user, person_id)
    if person is None:
        abort(404)
    if multi_factor.second_factor_of(person) is None or person.id == current_user.id:
        return redirect(url_for("people.show", person_id=person.id))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            multi_factor.reset(current_user._get_current_object(), person, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            then = ("They must set up a new one when they next sign in." if multi_factor.required_for(person)
                    else "They sign in with their password alone until they set up a new one.")
            flash(f"{person.name}'s sign-in with an authenticator app has been reset. {then}", "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("auth/mfa_reset.html", title=f"Reset {person.name}'s authenticator app", form=form,
                           person=person, required=multi_factor.required_for(person))
