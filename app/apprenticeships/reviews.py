"""Progress reviews (the schedule, recording a review, three-way signing) and the KSB coverage page with the
gateway checklist and the employer's agreement."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app import policy
from app.apprenticeships import apprenticeship_or_404, bp, record_tabs
from app.apprenticeships.review_forms import (
    GatewayAgreementForm,
    SignReviewForm,
    ksb_field_name,
    record_review_form,
)
from app.extensions import db
from app.forms import add_service_error
from app.models import Apprenticeship, ProgressReview, SigningParty
from app.services import ServiceError, apprenticeship_rules, clock, gateway, progress_reviews


def _review_or_404(apprenticeship: Apprenticeship, review_id: int) -> ProgressReview:
    review = progress_reviews.load_review(apprenticeship, review_id)
    if review is None:
        abort(404)
    return review


def _review_url(review: ProgressReview) -> str:
    return url_for("apprenticeships.review", apprenticeship_id=review.apprenticeship_id, review_id=review.id)


@bp.get("/apprenticeships/<int:apprenticeship_id>/reviews")
@policy.signed_in
def reviews(apprenticeship_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    today = clock.today()
    rows = [
        {"review": review, "state": progress_reviews.review_state(review, today),
         "signatures": progress_reviews.signature_rows(review),
         "parties": progress_reviews.parties_for(current_user, review),
         "may_record": not review.signatures and progress_reviews.may_record(current_user, review)}
        for review in progress_reviews.reviews_for(apprenticeship)
    ]
    counts = {key: sum(1 for row in rows if row["state"].key == key)
              for key in ("overdue", "awaiting_signatures", "complete")}
    return render_template(
        "apprenticeships/reviews.html", title=f"Progress reviews: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "reviews"), heading="Progress reviews",
        rows=rows, counts=counts,
        interval=apprenticeship_rules.RULE_SETS_BY_KEY[apprenticeship.rule_set].review_interval_label)


def _review_page(apprenticeship: Apprenticeship, review: ProgressReview, *, form: SignReviewForm | None = None,
                 status: int = 200):
    levels = {p.ksb_id: p.level for p in review.ksb_progress}
    return render_template(
        "apprenticeships/review_show.html", title=f"Review {review.sequence}: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "reviews"),
        heading=f"Progress review {review.sequence}", review=review,
        state=progress_reviews.review_state(review), signatures=progress_reviews.signature_rows(review),
        parties=progress_reviews.parties_for(current_user, review),
        ksb_rows=[(ksb, levels.get(ksb.id)) for ksb in apprenticeship.standard_version.ksbs],
        may_record=not review.signatures and progress_reviews.may_record(current_user, review),
        form=form, sign_form=form or SignReviewForm(formdata=None), hours=gateway.format_hours,
    ), status


@bp.get("/apprenticeships/<int:apprenticeship_id>/reviews/<int:review_id>")
@policy.signed_in
def review(apprenticeship_id: int, review_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    return _review_page(apprenticeship, _review_or_404(apprenticeship, review_id))


def _initial_data(apprenticeship: Apprenticeship, review: ProgressReview) -> dict:
    """What the form starts with: the review as recorded, or else the last review's actions and levels."""
    if review.held_on is not None:
        source, data = review, {"held_on": review.held_on, "rag": review.rag.value if review.rag else None,
                                "previous_actions": review.previous_actions, "concerns": review.concerns,
                                "actions": review.actions}
    else:
        source = progress_reviews.previous_review(review)
        data = {"previous_actions": source.actions if source else None}
    levels = {p.ksb_id: p.level.value for p in source.ksb_progress} if source else {}
    for ksb in apprenticeship.standard_version.ksbs:
        data[ksb_field_name(ksb)] = levels.get(ksb.id, "")
    return data


@bp.route("/apprenticeships/<int:apprenticeship_id>/reviews/<int:review_id>/record", methods=["GET", "POST"])
@policy.signed_in
def record_review(apprenticeship_id: int, review_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    review = _review_or_404(apprenticeship, review_id)
    if not progress_reviews.may_record(current_user, review):
        abort(403)
    if review.signatures:
        flash(progress_reviews.LOCKED_MESSAGE + ".", "info")
        return redirect(_review_url(review))
    ksbs = apprenticeship.standard_version.ksbs
    form = record_review_form(ksbs, data=_initial_data(apprenticeship, review))
    status = 200
    if form.validate_on_submit():
        first_time = review.held_on is None
        try:
            progress_reviews.record_review(
                current_user, review, held_on=form.held_on.data, rag=form.rag.data,
                previous_actions=form.previous_actions.data, concerns=form.concerns.data, actions=form.actions.data,
                ksb_progress=form.ksb_progress())
        except ServiceError as error:
            db.session.rollback()
            if error.field == "ksb_progress" and ksbs:
                error = ServiceError(error.message, ksb_field_name(ksbs[0]))
            add_service_error(form, error, "held_on")
            status = 400
        else:
            db.session.commit()
            flash(f"Review {review.sequence} has been {'recorded' if first_time else 'corrected'}. It is now waiting "
                  "for the apprentice, the employer and a coordinator to sign it.", "success")
            return redirect(_review_url(review))
    elif form.is_submitted():
        status = 400
    as_of = form.held_on.data if form.held_on.data and form.held_on.data <= clock.today() else clock.today()
    approved, expected = progress_reviews.otj_snapshot(apprenticeship, as_of)
    return render_template(
        "apprenticeships/review_record.html",
        title=f"Record review {review.sequence}: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "reviews"),
        heading=f"Record progress review {review.sequence}", review=review, form=form,
        otj={"as_of": as_of, "approved": approved, "expected": expected,
             "behind": max(expected - approved, 0), "planned": apprenticeship.planned_otj_hours},
        hours=gateway.format_hours,
    ), status


@bp.post("/apprenticeships/<int:apprenticeship_id>/reviews/<int:review_id>/sign")
@policy.signed_in
def sign_review(apprenticeship_id: int, review_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    review = _review_or_404(apprenticeship, review_id)
    form = SignReviewForm()
    if form.validate_on_submit():
        party = SigningParty(form.party.data)
        try:
            progress_reviews.sign(current_user, review, party)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "party")
        else:
            db.session.commit()
            message = f"You have signed review {review.sequence} {progress_reviews.AS_PARTY[party]}."
            if review.completed_at is not None:
                message += " The review is complete: all three have signed."
            flash(message, "success")
            return redirect(_review_url(review))
    review = _review_or_404(apprenticeship, review_id)
    return _review_page(apprenticeship, review, form=form, status=400)


def _ksbs_page(apprenticeship: Apprenticeship, *, form: GatewayAgreementForm | None = None, status: int = 200):
    coverage = gateway.ksb_coverage(apprenticeship)
    groups = [(kind, [c for c in coverage if c.ksb.kind is kind.kind]) for kind in gateway.coverage_summary(coverage)]
    return render_template(
        "apprenticeships/ksbs.html", title=f"KSBs and gateway: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "ksbs"), heading="KSBs and gateway",
        groups=groups, evidenced=sum(1 for c in coverage if c.evidenced), total=len(coverage),
        latest_review=gateway.latest_completed_review(apprenticeship),
        checklist=gateway.checklist(apprenticeship, coverage=coverage),
        may_agree=gateway.may_agree(current_user, apprenticeship),
        form=form, agreement_form=form or GatewayAgreementForm(formdata=None), hours=gateway.format_hours,
    ), status


@bp.get("/apprenticeships/<int:apprenticeship_id>/ksbs")
@policy.signed_in
def ksbs(apprenticeship_id: int):
    return _ksbs_page(apprenticeship_or_404(apprenticeship_id))


@bp.post("/apprenticeships/<int:apprenticeship_id>/gateway-agreement")
@policy.signed_in
def gateway_agreement(apprenticeship_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    if not gateway.may_agree(current_user, apprenticeship):
        abort(403)
    form = GatewayAgreementForm()
    if form.validate_on_submit():
        agree = form.decision.data == "agree"
        try:
            if agree:
                gateway.record_employer_agreement(current_user, apprenticeship)
            else:
                gateway.withdraw_employer_agreement(current_user, apprenticeship)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "decision")
        else:
            db.session.commit()
            flash("The employer's agreement that the apprentice is ready for gateway has been recorded." if agree
                  else "The employer's agreement has been withdrawn.", "success")
            return redirect(url_for("apprenticeships.ksbs", apprenticeship_id=apprenticeship.id))
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    return _ksbs_page(apprenticeship, form=form, status=400)
