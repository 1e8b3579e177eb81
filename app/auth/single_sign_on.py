"""Signing in with an organisation's identity provider ("Sign in with your council account"), and signing out
of it too. The rules are in app/services/single_sign_on.py; this sends the browser there and back."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from app import policy
from app.auth import multi_factor as multi_factor_steps
from app.auth.routes import bp, complete_sign_in
from app.extensions import db
from app.models import IdentityProvider
from app.models.types import utcnow
from app.services import single_sign_on
from app.services.single_sign_on import SingleSignOnError

# The state of the trip under way, in the browser's session: the answer must come back to the same browser.
STATE = "single_sign_on_state"
# Who signed out of Pathways having signed in at their provider: the sign-in page offers to sign out there too.
SIGNED_OUT_PROVIDER = "single_sign_on_signed_out"


def _callback_url() -> str:
    return url_for("auth.single_sign_on_callback", _external=True)


def _problem(error: SingleSignOnError):
    return render_template("auth/single_sign_on_problem.html", title=error.heading, error=error), error.status


def sign_in_elsewhere(provider: IdentityProvider, email: str, next_url: str):
    """Send the browser to ``provider`` to sign in, remembering the trip's state in its session."""
    try:
        address, state = single_sign_on.begin(provider, next_url, _callback_url(), login_hint=email.strip().lower())
    except SingleSignOnError as error:
        db.session.rollback()
        single_sign_on.record_refusal(error, provider=provider, email=email)
        db.session.commit()
        return _problem(error)
    db.session.commit()
    session[STATE] = state
    return redirect(address)


@bp.get("/sign-in/council/callback")
@policy.public
def single_sign_on_callback():
    state = request.args.get("state")
    try:
        signed_in = single_sign_on.finish(state, session.pop(STATE, None), request.args.get("code"),
                                          request.args.get("error"), _callback_url())
    except SingleSignOnError as error:
        db.session.rollback()
        # The trip is used up even when the answer is refused: it cannot be tried again.
        single_sign_on.mark_used(state)
        single_sign_on.record_refusal(error, state=state)
        db.session.commit()
        return _problem(error)
    single_sign_on.record_signed_in(signed_in)
    db.session.commit()
    person = signed_in.person
    target = signed_in.next_url
    if not signed_in.multi_factor and multi_factor_steps.needs_second_factor(person):
        # The provider checked one factor: Pathways asks for its own second one.
        return redirect(multi_factor_steps.begin(person, target))
    complete_sign_in(person)
    if signed_in.multi_factor:
        # The provider checked a second factor: it counts as Pathways' own.
        session[multi_factor_steps.CHECKED_AT] = utcnow().timestamp()
    return redirect(target)


@bp.post("/sign-out/council")
@policy.public
def single_sign_on_sign_out():
    """After signing out of Pathways: sign out of the council account too, where the provider offers it."""
    provider = db.session.get(IdentityProvider, session.pop(SIGNED_OUT_PROVIDER, None) or 0)
    if provider is None:
        return redirect(url_for("auth.sign_in"))
    try:
        address = single_sign_on.end_session_url(provider, url_for("auth.sign_in", _external=True))
    except SingleSignOnError as error:
        single_sign_on.record_refusal(error, provider=provider)
        db.session.commit()
        return _problem(error)
    if address is None:
        flash("Your council's sign-in does not let Pathways sign you out of it. Close your browser to sign out "
              "of your council account.", "info")
        return redirect(url_for("auth.sign_in"))
    return redirect(address)
