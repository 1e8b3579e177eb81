"""`flask sso`: organisations' identity providers (single sign-on) from the command line, and the demo provider.

Every error is one clear line on stderr and a non-zero exit; nothing is changed on error. Client secrets are read
from an environment variable or typed at a hidden prompt, and never printed.
"""

from __future__ import annotations

import os

import click

from app.extensions import db
from app.services import ServiceError, accounts, single_sign_on
from app.services.single_sign_on import SingleSignOnError

sso_cli = click.Group("sso", help="Sign-in with organisations' own identity providers (OpenID Connect).")


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


def _organisation(code: str):
    organisation = accounts.organisation_by_code(code)
    if organisation is None:
        _fail(f"no organisation has the code {code!r}; `flask organisations list` shows the codes")
    return organisation


@sso_cli.command("add")
@click.argument("organisation_code", metavar="ORG")
@click.option("--issuer", required=True, help="The provider's issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0.")
@click.option("--client-id", required=True, help="The client (application) ID the provider gave Pathways.")
@click.option("--client-secret-env", metavar="VARIABLE",
              help="Read the client secret from this environment variable (otherwise asked for, hidden). "
                   "Leave out when changing a provider to keep its secret.")
@click.option("--domain", "domains", multiple=True, required=True, metavar="DOMAIN",
              help="An email domain the organisation's people use (repeat for more).")
@click.option("--tenant-id", default=None, help="Microsoft Entra ID: the directory (tenant) ID to accept.")
@click.option("--creates-learners/--no-creates-learners", default=False, show_default=True,
              help="Whether a first sign-in with no Pathways account makes a learner.")
def add_provider(organisation_code, issuer, client_id, client_secret_env, domains, tenant_id, creates_learners):
    """Set up (or change) single sign-on for the organisation with code ORG."""
    organisation = _organisation(organisation_code)
    existing = single_sign_on.provider_of(organisation)
    secret = None
    if client_secret_env:
        secret = os.environ.get(client_secret_env)
        if not secret:
            _fail(f"the environment variable {client_secret_env} is not set or is empty")
    elif existing is None:
        secret = click.prompt("Client secret", hide_input=True)
    try:
        provider = single_sign_on.save_provider(None, organisation, issuer=issuer, client_id=client_id,
                                                client_secret=secret, allowed_domains=" ".join(domains),
                                                tenant_id=tenant_id, creates_learners=creates_learners)
    except ServiceError as error:
        option = {"issuer": "--issuer", "client_id": "--client-id", "client_secret": "--client-secret-env",
                  "allowed_domains": "--domain"}.get(error.field or "", "")
        _fail(f"{option}: {error.message}" if option else error.message)
    db.session.commit()
    click.echo(f"{'Changed' if existing else 'Set up'} single sign-on for {organisation.name} with "
               f"{provider.issuer} (domains: {', '.join(provider.domains)}). "
               f"Check it with: flask sso test {organisation.code}")


@sso_cli.command("list")
def list_providers():
    """The organisations that sign their people in with their own identity provider."""
    providers = single_sign_on.all_providers()
    if not providers:
        click.echo("No organisation uses single sign-on yet.")
    for provider in providers:
        extras = [f"tenant {provider.tenant_id}"] if provider.tenant_id else []
        extras.append("creates learners" if provider.creates_learners else "invited people only")
        click.echo(f"{provider.organisation.code:<10} {provider.organisation.name:<28} {provider.issuer}  "
                   f"client {provider.client_id}; domains {', '.join(provider.domains)}; {'; '.join(extras)}")


@sso_cli.command("test")
@click.argument("organisation_code", metavar="ORG")
def test_provider(organisation_code):
    """Fetch ORG's provider's discovery document and signing keys, as a sign-in would, and report."""
    organisation = _organisation(organisation_code)
    provider = single_sign_on.provider_of(organisation)
    if provider is None:
        _fail(f"{organisation.name} has no identity provider; set one up with `flask sso add {organisation.code}`")
    try:
        check = single_sign_on.check_provider(provider)
    except SingleSignOnError as error:
        _fail(f"{organisation.name}'s provider at {provider.issuer}: {error.heading}. {error.message}")
    click.echo(f"Discovery: {check.issuer} answers and names itself as the issuer configured")
    click.echo(f"Authorisation endpoint: {check.authorization_endpoint}")
    click.echo(f"Token endpoint: {check.token_endpoint}")
    click.echo(f"Signing keys: {len(check.key_ids)} ({', '.join(check.key_ids)})")
    click.echo("Signing out at the provider: " + (check.end_session_endpoint or "not offered"))
    click.echo("The client secret can be read with this SECRET_KEY.")


@sso_cli.command("remove")
@click.argument("organisation_code", metavar="ORG")
def remove_provider(organisation_code):
    """Stop single sign-on for ORG: its people sign in with Pathways passwords again."""
    organisation = _organisation(organisation_code)
    provider = single_sign_on.provider_of(organisation)
    if provider is None:
        _fail(f"{organisation.name} has no identity provider")
    single_sign_on.remove_provider(None, provider)
    db.session.commit()
    click.echo(f"Single sign-on removed for {organisation.name}")


@sso_cli.command("demo-provider")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: the app's port + 1, as `make run` uses).")
def demo_provider(port):
    """Run the demo council identity provider on loopback, for trying single sign-on (development only)."""
    from flask import current_app

    from app.services.demo_identity_provider import DemoIdentityProvider, demo_provider_port

    if current_app.config["ENV_NAME"] == "production":
        _fail("the demo identity provider is for development; refusing to run it in production")
    port = port or demo_provider_port()
    click.echo(f"Demo council identity provider at http://127.0.0.1:{port}")
    DemoIdentityProvider().serve_forever("127.0.0.1", port)
