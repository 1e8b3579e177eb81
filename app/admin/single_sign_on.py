"""An organisation's identity provider (single sign-on), set up by admins."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app import policy
from app.admin.routes import bp
from app.admin.single_sign_on_forms import IdentityProviderForm, RemoveIdentityProviderForm
from app.extensions import db
from app.forms import add_service_error
from app.models import Organisation
from app.services import ServiceError, single_sign_on


@bp.route("/organisations/<int:organisation_id>/single-sign-on", methods=["GET", "POST"])
@policy.requires(policy.can_manage_organisations)
def single_sign_on_settings(organisation_id: int):
    organisation = db.session.get(Organisation, organisation_id) or abort(404)
    provider = single_sign_on.provider_of(organisation)
    form = IdentityProviderForm()
    if not form.is_submitted() and provider is not None:
        form.issuer.data, form.client_id.data = provider.issuer, provider.client_id
        form.allowed_domains.data = "\n".join(provider.domains)
        form.tenant_id.data, form.creates_learners.data = provider.tenant_id, provider.creates_learners
    if form.validate_on_submit():
        try:
            single_sign_on.save_provider(current_user, organisation, issuer=form.issuer.data,
                                         client_id=form.client_id.data, client_secret=form.client_secret.data,
                                         allowed_domains=form.allowed_domains.data, tenant_id=form.tenant_id.data,
                                         creates_learners=form.creates_learners.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error)
        else:
            db.session.commit()
            flash(f"{organisation.name}'s people now sign in with their council account.", "success")
            return redirect(url_for("admin.single_sign_on_settings", organisation_id=organisation.id))
    return render_template("admin/single_sign_on.html", title=f"Single sign-on for {organisation.name}",
                           organisation=organisation, provider=provider, form=form,
                           remove_form=RemoveIdentityProviderForm(formdata=None),
                           callback=url_for("auth.single_sign_on_callback", _external=True))


@bp.post("/organisations/<int:organisation_id>/single-sign-on/remove")
@policy.requires(policy.can_manage_organisations)
def remove_single_sign_on(organisation_id: int):
    organisation = db.session.get(Organisation, organisation_id) or abort(404)
    provider = single_sign_on.provider_of(organisation) or abort(404)
    form = RemoveIdentityProviderForm()
    if not form.validate_on_submit():
        abort(400)
    single_sign_on.remove_provider(current_user, provider)
    db.session.commit()
    flash(f"Single sign-on has stopped for {organisation.name}. Its people sign in with Pathways passwords.",
          "success")
    return redirect(url_for("admin.organisation", organisation_id=organisation.id))
