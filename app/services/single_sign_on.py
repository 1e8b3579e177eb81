"""Signing in with an organisation's identity provider: OpenID Connect, authorisation code flow with PKCE.

- **Who goes there.** Someone whose account belongs to an organisation with a provider; someone with no account
  whose email is in a domain a provider allows. Everyone else keeps their Pathways password.
- **The trip.** Each trip has its own state, nonce and PKCE verifier, kept on the server (``SingleSignOnRequest``)
  with the state's digest; the browser's session holds the state. The answer is accepted once (one conditional
  UPDATE), within ``REQUEST_MINUTES``, and only in the browser that set off.
- **The id token.** Its signature is checked against the keys the provider publishes (its discovery document's
  ``jwks_uri``), and so are its issuer, audience, expiry, nonce and, for Entra ID, tenant, with ``LEEWAY_SECONDS``
  for clocks that disagree.
- **Who it is.** The provider's subject, once linked, finds the person. The first sign-in links by an email the
  provider says it has verified, in one of the organisation's domains, to a person of that organisation; or, if
  the organisation allows, makes a learner. Deactivated people are refused.
- **The second factor.** Admins and coordinators satisfy it at the provider when the id token says so (``amr`` or
  ``acr``); otherwise Pathways asks for its own.

The client secret is encrypted with a key derived from SECRET_KEY (as the authenticator apps' secrets are) and is
never shown again. Services add and flush; the caller commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import IdentityProvider, Organisation, Person, Role, SingleSignOnLink, SingleSignOnRequest
from app.models.types import utcnow
from app.services import ServiceError, accounts, audit, sealing

REQUEST_MINUTES = 10
LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 5
SCOPES = "openid email profile"
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256")
# ``amr`` values (RFC 8176) that mean more than one factor was used.
MULTI_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "sc"})
# ``acr`` values that say so: Entra ID's and the PAPE multi-factor policies, and any naming "mfa".
MULTI_FACTOR_ACR_WORDS = ("mfa", "multi-factor", "multifactor", "phr", "phrh")


class SingleSignOnError(ServiceError):
    """A sign-in at an identity provider that Pathways refuses. ``reason`` names it for the audit trail and the
    page; ``status`` is the page's HTTP status."""

    def __init__(self, reason: str, heading: str, message: str, status: int = 400):
        super().__init__(message)
        self.reason, self.heading, self.status = reason, heading, status


def _refusal(reason: str) -> SingleSignOnError:
    heading, message, status = REFUSALS[reason]
    return SingleSignOnError(reason, heading, message, status)


# What each failure says to the person trying to sign in: what went wrong and what to do.
REFUSALS = {
    "provider_unreachable": ("Your council's sign-in is not available",
                             "Pathways could not reach your organisation's sign-in service. Try again in a few "
                             "minutes. If it keeps happening, tell your organisation's IT service desk.", 502),
    "provider_misconfigured": ("Your council's sign-in is not set up correctly",
                               "Your organisation's sign-in service answered with details Pathways does not "
                               "expect. Tell your organisation's Pathways coordinator.", 502),
    "wrong_issuer": ("You signed in to a different organisation",
                     "The account you signed in with belongs to a different organisation or directory. Sign out "
                     "of it, then sign in to Pathways again with your council account.", 403),
    "bad_signature": ("Your sign-in could not be checked",
                      "Pathways could not confirm that your sign-in came from your organisation. Sign in again.",
                      400),
    "expired_token": ("Your sign-in has expired",
                      "Your sign-in took too long or your organisation's answer has expired. Sign in again.", 400),
    "state_mismatch": ("Your sign-in link has already been used or has expired",
                       "Each sign-in works once, in the browser it started in, for "
                       f"{REQUEST_MINUTES} minutes. Start again from the sign-in page.", 400),
    "provider_refused": ("Your council's sign-in did not finish",
                         "Your organisation's sign-in service did not sign you in. Start again from the sign-in "
                         "page.", 400),
    "unverified_email": ("Your email address is not verified",
                         "Your organisation's sign-in service has not confirmed your email address, so Pathways "
                         "cannot use it. Ask your organisation's IT service desk to verify it.", 403),
    "email_not_allowed": ("Your email address cannot be used here",
                          "Your email address is not one your organisation lets you use to sign in to Pathways. "
                          "Sign in with your council account, or ask your Pathways coordinator.", 403),
    "no_account": ("You do not have a Pathways account yet",
                   "Your council account is not linked to a Pathways account. Ask your organisation's Pathways "
                   "coordinator to invite you.", 403),
    "deactivated": ("Your Pathways account has been deactivated",
                    "You cannot sign in because your account has been deactivated. Ask your organisation's "
                    "Pathways coordinator if you think this is wrong.", 403),
}


# The client secret at rest ----------------------------------------------------------------------------------------


_SEAL_PURPOSE = b"pathways identity provider secret"


def _bound_to(organisation_id: int) -> str:
    # Bound to the organisation: copied onto another organisation's provider, it does not open.
    return f"organisation:{organisation_id}"


def seal(secret: str, organisation_id: int) -> str:
    return sealing.seal(secret, purpose=_SEAL_PURPOSE, bound_to=_bound_to(organisation_id))


def client_secret(provider: IdentityProvider) -> str:
    secret = sealing.unseal(provider.sealed_client_secret, purpose=_SEAL_PURPOSE,
                            bound_to=_bound_to(provider.organisation_id))
    if secret is None:
        raise _refusal("provider_misconfigured")
    return secret


# Configuring a provider -------------------------------------------------------------------------------------------


def provider_of(organisation: Organisation) -> IdentityProvider | None:
    return db.session.scalar(select(IdentityProvider).where(IdentityProvider.organisation_id == organisation.id))


def all_providers() -> list[IdentityProvider]:
    return db.session.scalars(select(IdentityProvider).join(Organisation).order_by(Organisation.name)).all()


def clean_domains(text: str | None) -> list[str]:
    """Domains typed one per line or separated by commas or spaces: lower case, without "@"; ServiceError for
    anything that is not a domain."""
    domains = []
    for word in (text or "").replace(",", " ").split():
        domain = word.strip().lstrip("@").lower().rstrip(".")
        labels = domain.split(".")
        if len(labels) < 2 or not all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                                      and label.isascii() for label in labels):
            raise ServiceError(f"{word} is not an email domain. Enter domains like council.gov.uk",
                               field="allowed_domains")
        if domain not in domains:
            domains.append(domain)
    if not domains:
        raise ServiceError("Enter at least one email domain, like council.gov.uk", field="allowed_domains")
    return domains


def _clean_issuer(issuer: str | None) -> str:
    issuer = (issuer or "").strip()
    parts = urllib.parse.urlsplit(issuer)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ServiceError("The issuer must be an https:// address, like https://login.microsoftonline.com/…/v2.0",
                           field="issuer")
    if not parts.netloc or parts.query or parts.fragment:
        raise ServiceError("The issuer must be an address without ? or #", field="issuer")
    return issuer


def save_provider(actor: Person | None, organisation: Organisation, *, issuer: str, client_id: str,
                  client_secret: str | None, allowed_domains: str, tenant_id: str | None = None,
                  creates_learners: bool = False) -> IdentityProvider:
    """Set up (or change) ``organisation``'s identity provider. An empty ``client_secret`` keeps the one
    saved; a new provider needs one."""
    issuer = _clean_issuer(issuer)
    client_id = (client_id or "").strip()
    if not client_id:
        raise ServiceError("Enter the client ID your identity provider gave Pathways", field="client_id")
    domains = clean_domains(allowed_domains)
    tenant_id = (tenant_id or "").strip() or None
    provider = provider_of(organisation)
    created = provider is None
    if created and not client_secret:
        raise ServiceError("Enter the client secret your identity provider gave Pathways", field="client_secret")
    if created:
        provider = IdentityProvider(organisation_id=organisation.id)
        db.session.add(provider)
    unlinked = 0
    if not created and provider.issuer != issuer:
        # Subjects are unique only within an issuer: a new one links everyone again, by verified email.
        unlinked = db.session.execute(delete(SingleSignOnLink).where(SingleSignOnLink.provider_id == provider.id)
                                      ).rowcount or 0
    provider.issuer, provider.client_id = issuer, client_id
    provider.allowed_domains, provider.tenant_id = "\n".join(domains), tenant_id
    provider.creates_learners = bool(creates_learners)
    provider.updated_at = utcnow()
    if client_secret:
        provider.sealed_client_secret = seal(client_secret, organisation.id)
    db.session.flush()
    # The secret is never written to the audit trail: only whether it changed.
    audit.record(actor, "identity_provider.saved", provider,
                 f"{'Set up' if created else 'Changed'} single sign-on for {organisation.name} with {issuer}",
                 organisation=organisation.code, issuer=issuer, client_id=client_id, allowed_domains=domains,
                 tenant_id=tenant_id, creates_learners=provider.creates_learners,
                 client_secret_changed=bool(client_secret), links_removed=unlinked)
    return provider


def remove_provider(actor: Person | None, provider: IdentityProvider) -> None:
    organisation = provider.organisation
    db.session.execute(delete(SingleSignOnRequest).where(SingleSignOnRequest.provider_id == provider.id))
    db.session.execute(delete(SingleSignOnLink).where(SingleSignOnLink.provider_id == provider.id))
    audit.record(actor, "identity_provider.removed", provider,
                 f"Removed single sign-on for {organisation.name}; its people sign in with passwords again",
                 organisation=organisation.code, issuer=provider.issuer)
    db.session.delete(provider)
    db.session.flush()


# Talking to the provider ------------------------------------------------------------------------------------------


def _fetch_json(url: str, data: dict | None = None, headers: dict | None = None) -> dict:
    """GET (or POST ``data`` as a form to) ``url``; the JSON object it answers with."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise _refusal("provider_misconfigured")
    request = urllib.request.Request(  # noqa: S310 (http and https only, checked above)
        url, data=body, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 (checked above)
            answer = json.loads(response.read(1_000_000))
    except urllib.error.HTTPError as error:
        # A token endpoint says why in JSON (a code used twice, a wrong verifier): the provider refused.
        raise _refusal("provider_refused" if data is not None and error.code < 500 else "provider_unreachable") \
            from error
    except (OSError, TimeoutError) as error:
        raise _refusal("provider_unreachable") from error
    except ValueError as error:
        raise _refusal("provider_misconfigured") from error
    if not isinstance(answer, dict):
        raise _refusal("provider_misconfigured")
    return answer


def discover(provider: IdentityProvider) -> dict:
    """The provider's discovery document, checked to be the issuer configured and to name what Pathways uses."""
    document = _fetch_json(provider.issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != provider.issuer:
        raise _refusal("wrong_issuer")
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(field), str):
            raise _refusal("provider_misconfigured")
    return document


def signing_keys(document: dict) -> KeySet:
    jwks = _fetch_json(document["jwks_uri"])
    try:
        return KeySet.import_key_set(jwks)
    except (jose_errors.JoseError, ValueError, KeyError, TypeError) as error:
        raise _refusal("provider_misconfigured") from error


@dataclass(frozen=True)
class ProviderCheck:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None
    key_ids: list[str]


def check_provider(provider: IdentityProvider) -> ProviderCheck:
    """Fetch the discovery document and the signing keys, as a sign-in would; ``SingleSignOnError`` if either
    fails."""
    document = discover(provider)
    keys = signing_keys(document)
    client_secret(provider)  # readable with this SECRET_KEY
    return ProviderCheck(issuer=document["issuer"], authorization_endpoint=document["authorization_endpoint"],
                         token_endpoint=document["token_endpoint"],
                         end_session_endpoint=document.get("end_session_endpoint"),
                         key_ids=[key.kid or "(no key id)" for key in keys.keys])


# Who signs in where -----------------------------------------------------------------------------------------------


def _domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def provider_for_email(email: str | None) -> IdentityProvider | None:
    """The provider someone typing ``email`` signs in with: their organisation's, if they have an account;
    else the one whose organisation allows the email's domain; else None (a Pathways password)."""
    email = (email or "").strip().lower()
    if "@" not in email:
        return None
    person = db.session.scalar(select(Person).where(Person.email == email))
    if person is not None:
        return db.session.scalar(select(IdentityProvider)
                                 .where(IdentityProvider.organisation_id == person.organisation_id))
    domain = _domain(email)
    return next((provider for provider in all_providers() if domain in provider.domains), None)


def form_action_origins() -> list[str]:
    """The identity providers' origins, which the sign-in page's form may be sent on to. (A provider's
    authorisation and sign-out endpoints are on its issuer's origin, as Entra ID's, Google's and Okta's are.)"""
    origins = []
    for issuer in db.session.scalars(select(IdentityProvider.issuer)):
        parts = urllib.parse.urlsplit(issuer)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins and " " not in origin and ";" not in origin:
            origins.append(origin)
    return origins


def linked_provider(person: Person) -> IdentityProvider | None:
    """The provider ``person`` has signed in with, if any."""
    return db.session.scalar(select(IdentityProvider).join(SingleSignOnLink)
                             .where(SingleSignOnLink.person_id == person.id))


# Setting off ------------------------------------------------------------------------------------------------------


def _state_digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def begin(provider: IdentityProvider, next_url: str, redirect_uri: str, login_hint: str | None = None
          ) -> tuple[str, str]:
    """Start a trip to ``provider``: the address to send the browser to, and the state for its session."""
    document = discover(provider)
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    db.session.add(SingleSignOnRequest(state_digest=_state_digest(state), provider_id=provider.id, nonce=nonce,
                                       code_verifier=verifier, next_url=next_url[:2000]))
    query = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
             "scope": SCOPES, "state": state, "nonce": nonce,
             "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    if login_hint:
        query["login_hint"] = login_hint
    endpoint = document["authorization_endpoint"]
    separator = "&" if urllib.parse.urlsplit(endpoint).query else "?"
    return endpoint + separator + urllib.parse.urlencode(query), state


# Coming back ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    person: Person
    provider: IdentityProvider
    # The provider says it checked more than one factor.
    multi_factor: bool
    next_url: str


def _take_request(state: str | None, session_state: str | None) -> SingleSignOnRequest:
    """The trip this answer belongs to, marked used: once, in time, in the browser that set off."""
    if not state or not session_state or not secrets.compare_digest(state, session_state):
        raise _refusal("state_mismatch")
    now = utcnow()
    taken = db.session.execute(
        update(SingleSignOnRequest)
        .where(SingleSignOnRequest.state_digest == _state_digest(state), SingleSignOnRequest.used_at.is_(None),
               SingleSignOnRequest.created_at >= now - timedelta(minutes=REQUEST_MINUTES))
        .values(used_at=now)
    ).rowcount
    if taken != 1:
        raise _refusal("state_mismatch")
    return db.session.scalar(select(SingleSignOnRequest).where(
        SingleSignOnRequest.state_digest == _state_digest(state)))


def mark_used(state: str | None) -> None:
    """Use up the trip of ``state`` (its answer was refused), so it cannot be tried again. The caller commits."""
    if state:
        db.session.execute(update(SingleSignOnRequest)
                           .where(SingleSignOnRequest.state_digest == _state_digest(state),
                                  SingleSignOnRequest.used_at.is_(None))
                           .values(used_at=utcnow()))


def purge_old_requests() -> int:
    """Forget trips to a provider once they can no longer be answered (a day after they began): anyone can start
    one by typing an address of an organisation with a provider, so they are not kept."""
    cutoff = utcnow() - timedelta(minutes=REQUEST_MINUTES) - timedelta(days=1)
    result = db.session.execute(delete(SingleSignOnRequest).where(SingleSignOnRequest.created_at < cutoff))
    return result.rowcount or 0


def _redeem_code(provider: IdentityProvider, document: dict, code: str, verifier: str, redirect_uri: str) -> str:
    credentials = f"{urllib.parse.quote(provider.client_id, safe='')}:" \
                  f"{urllib.parse.quote(client_secret(provider), safe='')}"
    answer = _fetch_json(document["token_endpoint"],
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                               "code_verifier": verifier},
                         headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()})
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise _refusal("provider_misconfigured")
    return id_token


def verify_id_token(provider: IdentityProvider, keys: KeySet, id_token: str, nonce: str) -> dict:
    """The id token's claims, once its signature, issuer, audience, times, nonce and tenant are right."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(SIGNING_ALGORITHMS))
    except (jose_errors.JoseError, ValueError, KeyError, TypeError) as error:
        raise _refusal("bad_signature") from error
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(utcnow().timestamp()), leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": provider.issuer}, aud={"essential": True, "value": provider.client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except jose_errors.ExpiredTokenError as error:
        raise _refusal("expired_token") from error
    except jose_errors.InvalidClaimError as error:
        if error.claim in {"iss", "aud"}:
            raise _refusal("wrong_issuer") from error
        if error.claim == "iat":
            raise _refusal("expired_token") from error
        raise _refusal("bad_signature") from error
    except jose_errors.JoseError as error:
        raise _refusal("bad_signature") from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise _refusal("wrong_issuer")
    if provider.tenant_id and claims.get("tid") != provider.tenant_id:
        raise _refusal("wrong_issuer")
    return claims


def multi_factor_claimed(claims: dict) -> bool:
    amr = claims.get("amr")
    if isinstance(amr, list) and MULTI_FACTOR_AMR & {str(value).lower() for value in amr}:
        return True
    acr = str(claims.get("acr") or "").lower()
    return any(word in acr for word in MULTI_FACTOR_ACR_WORDS)


def _email_verified(claims: dict) -> bool:
    # Some providers send the boolean as a string.
    return claims.get("email_verified") is True or claims.get("email_verified") == "true"


def _find_person(provider: IdentityProvider, claims: dict) -> Person:
    """The person these claims are: by the link to the subject, or (the first time) by a verified email."""
    link = db.session.scalar(select(SingleSignOnLink).where(SingleSignOnLink.provider_id == provider.id,
                                                            SingleSignOnLink.subject == claims["sub"]))
    if link is not None:
        person = link.person
        if person.organisation_id != provider.organisation_id:
            # They have moved to another organisation since: this one's provider no longer speaks for them.
            raise _refusal("wrong_issuer")
    else:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or not _email_verified(claims):
            raise _refusal("unverified_email")
        email = email.strip().lower()
        if _domain(email) not in provider.domains:
            raise _refusal("email_not_allowed")
        person = db.session.scalar(select(Person).where(Person.email == email))
        if person is not None and person.organisation_id != provider.organisation_id:
            raise _refusal("email_not_allowed")
        if person is not None and not person.active:
            raise _refusal("deactivated")
        if person is not None and db.session.scalar(select(SingleSignOnLink).where(
                SingleSignOnLink.provider_id == provider.id, SingleSignOnLink.person_id == person.id)):
            # Already linked to another subject at this provider: an address reused for someone else.
            raise _refusal("email_not_allowed")
        if person is None:
            if not provider.creates_learners:
                raise _refusal("no_account")
            name = str(claims.get("name") or "").strip() or email.partition("@")[0]
            person = accounts.create_person(None, email=email, name=name[:200], organisation=provider.organisation,
                                            roles=[Role.LEARNER], invite=False)
            audit.record(None, "person.created_by_single_sign_on", person,
                         f"{person.name} <{email}> joined as a learner on signing in with "
                         f"{provider.organisation.name}'s identity provider", organisation=provider.organisation.code)
        link = SingleSignOnLink(provider_id=provider.id, subject=claims["sub"], person_id=person.id)
        db.session.add(link)
        db.session.flush()
        audit.record(None, "person.single_sign_on_linked", person,
                     f"{person.name}'s account was linked to {provider.organisation.name}'s identity provider",
                     provider=provider.id, issuer=provider.issuer)
    if not person.active:
        raise _refusal("deactivated")
    link.last_signed_in_at = utcnow()
    return person


def finish(state: str | None, session_state: str | None, code: str | None, error: str | None,
           redirect_uri: str) -> SignedIn:
    """Check the provider's answer and say who has signed in; ``SingleSignOnError`` (audited by
    ``record_refusal``) for anything wrong."""
    request = _take_request(state, session_state)
    provider = request.provider
    if error or not code:
        raise _refusal("provider_refused")
    document = discover(provider)
    keys = signing_keys(document)
    id_token = _redeem_code(provider, document, code, request.code_verifier, redirect_uri)
    claims = verify_id_token(provider, keys, id_token, request.nonce)
    person = _find_person(provider, claims)
    person.last_signed_in_at = utcnow()
    return SignedIn(person=person, provider=provider, multi_factor=multi_factor_claimed(claims),
                    next_url=request.next_url)


def record_signed_in(signed_in: SignedIn) -> None:
    audit.record(None, "person.signed_in_with_single_sign_on", signed_in.person,
                 f"{signed_in.person.name} signed in with {signed_in.provider.organisation.name}'s identity provider"
                 + (" (multi-factor at the provider)" if signed_in.multi_factor else ""),
                 provider=signed_in.provider.id, multi_factor=signed_in.multi_factor)


def record_refusal(error: SingleSignOnError, *, state: str | None = None, provider: IdentityProvider | None = None,
                   email: str | None = None) -> None:
    """Audit a refused sign-in. The caller has rolled its own work back, and commits this."""
    if provider is None and state:
        provider = db.session.scalar(select(IdentityProvider).join(SingleSignOnRequest)
                                     .where(SingleSignOnRequest.state_digest == _state_digest(state)))
    details = {"reason": error.reason}
    if email:
        details["email"] = email.strip().lower()[:320]
    where = f" with {provider.organisation.name}'s identity provider" if provider is not None else ""
    # Without a known provider (a state nobody sent) the event names no row.
    audit.record(None, "person.single_sign_on_refused", provider if provider is not None else IdentityProvider(),
                 f"A sign-in{where} was refused: {error.heading[0].lower()}{error.heading[1:]}", **details)


def end_session_url(provider: IdentityProvider, post_logout_redirect_uri: str) -> str | None:
    """Where to send the browser to sign out at the provider too, if it offers that."""
    endpoint = discover(provider).get("end_session_endpoint")
    if not isinstance(endpoint, str) or urllib.parse.urlsplit(endpoint).scheme not in {"http", "https"}:
        return None
    query = urllib.parse.urlencode({"client_id": provider.client_id,
                                    "post_logout_redirect_uri": post_logout_redirect_uri})
    return endpoint + ("&" if urllib.parse.urlsplit(endpoint).query else "?") + query
