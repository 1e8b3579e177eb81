"""A small OpenID Connect provider for trying single sign-on on one machine: the demo (``make run`` starts it
beside Pathways, ``flask sso demo-provider``) and the tests, which drive it over loopback as Pathways would a
council's Entra ID.

It serves discovery, its signing keys (JWKS), an authorisation page where you pick a demo council account, a token
endpoint (authorisation codes with PKCE, each code once) and sign-out. It signs id tokens with RS256. Only
loopback redirect addresses are accepted: it is for development, never for signing anyone in for real.

The tests can make it misbehave, as a real provider or an attacker might: ``claim_changes`` alters the next id
tokens' claims, ``sign_with_stranger_key`` signs them with a key it does not publish.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

DEMO_CLIENT_ID = "pathways-demo"
DEMO_CLIENT_SECRET = "demo-council-client-secret"  # noqa: S105 (a development provider's well-known secret)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TOKEN_SECONDS = 300
# The demo council that signs in here (demo data, app/services/demo.py).
DEMO_ORGANISATION = "E09000028"
DEMO_DOMAIN = "southwark.example"


def demo_provider_port() -> int:
    """Beside the app: one above the port ``flask run`` serves on (``make run`` sets FLASK_RUN_PORT)."""
    return int(os.environ.get("FLASK_RUN_PORT") or "5000") + 1


def demo_issuer() -> str:
    return f"http://127.0.0.1:{demo_provider_port()}"


@dataclass
class DemoAccount:
    email: str
    name: str
    email_verified: bool = True
    subject: str = field(default_factory=lambda: secrets.token_hex(8))


# The demo council's accounts (README, "Single sign-on").
DEMO_ACCOUNTS = [
    DemoAccount("kemi.adebayo@southwark.example", "Kemi Adebayo", subject="southwark-0001"),
    DemoAccount("coordinator@southwark.example", "Daniel Osei", subject="southwark-0002"),
    DemoAccount("unverified@southwark.example", "Riley Unverified", email_verified=False, subject="southwark-0003"),
]


@dataclass
class _Code:
    account: DemoAccount
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    multi_factor: bool


class DemoIdentityProvider:
    def __init__(self, accounts: list[DemoAccount] | None = None, client_id: str = DEMO_CLIENT_ID,
                 client_secret: str = DEMO_CLIENT_SECRET):
        self.accounts = {account.email: account for account in (accounts or DEMO_ACCOUNTS)}
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, auto_kid=True)
        self.issuer = ""
        # Changes to the claims of the id tokens issued from now on (None removes a claim).
        self.claim_changes: dict = {}
        self.sign_with_stranger_key = False
        self.signed_out = 0
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.app = self._build_app()

    # Serving ------------------------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> DemoIdentityProvider:
        """Serve in a thread of its own; ``port`` 0 picks a free one."""
        self._server = make_server(host, port, self.app, threaded=True)
        self.issuer = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-identity-provider",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, host: str, port: int) -> None:
        self._server = make_server(host, port, self.app, threaded=True)
        self.issuer = f"http://{host}:{port}"
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # Driving it from a test ---------------------------------------------------------------------------------------

    def approve(self, authorization_url: str, email: str, multi_factor: bool = False) -> str:
        """Sign in at the authorisation page as ``email`` (as the person would, by posting its form) and return
        the address the provider sends the browser back to."""
        query = urllib.parse.urlsplit(authorization_url).query
        body = urllib.parse.urlencode({"query": query, "email": email,
                                       **({"multi_factor": "yes"} if multi_factor else {})}).encode()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(urllib.request.Request(self.issuer + "/authorize", data=body), timeout=5)  # noqa: S310
        except urllib.error.HTTPError as answer:
            if answer.code == 302:
                return answer.headers["Location"]
            raise
        raise AssertionError("the provider did not send the browser back")

    # The id token -------------------------------------------------------------------------------------------------

    def id_token(self, code: _Code) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": code.account.subject, "aud": code.client_id, "iat": now,
                  "exp": now + TOKEN_SECONDS, "email": code.account.email,
                  "email_verified": code.account.email_verified, "name": code.account.name,
                  "amr": ["pwd", "mfa"] if code.multi_factor else ["pwd"]}
        if code.nonce:
            claims["nonce"] = code.nonce
        for name, value in self.claim_changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = RSAKey.generate_key(2048, auto_kid=True) if self.sign_with_stranger_key else self.key
        # A forged token names the published key: only the signature gives it away.
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    # The web pages ------------------------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("demo_identity_provider")
        provider = self

        def redirect_allowed(uri: str) -> bool:
            parts = urllib.parse.urlsplit(uri)
            return parts.scheme in {"http", "https"} and parts.hostname in LOOPBACK

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({
                "issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "jwks_uri": provider.issuer + "/jwks",
                "end_session_endpoint": provider.issuer + "/end-session",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            })

        @app.get("/favicon.ico")
        def favicon():
            return "", 204

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():
            params = request.args if request.method == "GET" else urllib.parse.parse_qs(
                request.form.get("query", ""))
            get = (lambda name: params.get(name)) if request.method == "GET" else (
                lambda name: (params.get(name) or [None])[0])
            redirect_uri = get("redirect_uri") or ""
            if get("client_id") != provider.client_id or not redirect_allowed(redirect_uri):
                abort(400)
            if get("response_type") != "code" or get("code_challenge_method") != "S256" or not get("code_challenge") \
                    or "openid" not in (get("scope") or "").split():
                return redirect(_with(redirect_uri, error="invalid_request", state=get("state")))
            if request.method == "GET":
                return _authorize_page(request.query_string.decode(), get("login_hint"), provider.accounts)
            account = provider.accounts.get(request.form.get("email", ""))
            if account is None:
                return redirect(_with(redirect_uri, error="access_denied", state=get("state")))
            code = secrets.token_urlsafe(24)
            with provider._lock:
                provider._codes[code] = _Code(account, get("client_id"), redirect_uri, get("nonce"),
                                              get("code_challenge"), request.form.get("multi_factor") == "yes")
            return redirect(_with(redirect_uri, code=code, state=get("state")))

        @app.post("/token")
        def token():
            client_id, client_secret = _client_credentials()
            if client_id != provider.client_id or not secrets.compare_digest(client_secret or "",
                                                                             provider.client_secret):
                return jsonify({"error": "invalid_client"}), 401
            with provider._lock:
                code = provider._codes.pop(request.form.get("code", ""), None)  # each code works once
            if code is None or request.form.get("grant_type") != "authorization_code" \
                    or code.redirect_uri != request.form.get("redirect_uri") or code.client_id != client_id:
                return jsonify({"error": "invalid_grant"}), 400
            verifier = request.form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not secrets.compare_digest(challenge, code.challenge):
                return jsonify({"error": "invalid_grant", "error_description": "PKCE verifier"}), 400
            return jsonify({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                            "expires_in": TOKEN_SECONDS, "id_token": provider.id_token(code)})

        @app.get("/end-session")
        def end_session():
            provider.signed_out += 1
            back = request.args.get("post_logout_redirect_uri", "")
            if back and redirect_allowed(back):
                return redirect(back)
            return _page("Signed out", "<h1>You have signed out of your demo council account</h1>")

        return app


def _with(uri: str, **params) -> str:
    params = {name: value for name, value in params.items() if value is not None}
    return uri + ("&" if urllib.parse.urlsplit(uri).query else "?") + urllib.parse.urlencode(params)


def _client_credentials() -> tuple[str | None, str | None]:
    if request.authorization is not None and request.authorization.type == "basic":
        return (urllib.parse.unquote(request.authorization.username or ""),
                urllib.parse.unquote(request.authorization.password or ""))
    return request.form.get("client_id"), request.form.get("client_secret")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<style>body{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
            "fieldset{border:0;padding:0;margin:0 0 1rem}button{font-size:1.1rem;padding:.5rem 1rem;"
            "background:#1d70b8;color:#fff;border:0}button:focus{outline:3px solid #fd0}</style></head>"
            f"<body><main>{body}</main></body></html>")


def _authorize_page(query: str, hint: str | None, accounts: dict[str, DemoAccount]) -> str:
    choices = "".join(
        f'<div><input type="radio" name="email" id="account-{index}" value="{html.escape(email)}"'
        f'{" checked" if email == hint or (hint not in accounts and index == 0) else ""}>'
        f' <label for="account-{index}">{html.escape(account.name)} ({html.escape(email)})'
        f'{"" if account.email_verified else ", email not verified"}</label></div>'
        for index, (email, account) in enumerate(accounts.items()))
    return _page("Sign in to your demo council account", (
        "<h1>Demo council sign-in</h1>"
        "<p>This stands in for a council's own sign-in page (such as Microsoft Entra ID). Choose an account.</p>"
        f'<form method="post"><input type="hidden" name="query" value="{html.escape(query)}">'
        f"<fieldset><legend>Account</legend>{choices}</fieldset>"
        '<fieldset><legend>Second factor</legend><div><input type="checkbox" name="multi_factor" value="yes" '
        'id="multi-factor"> <label for="multi-factor">I also approved this sign-in on my phone</label></div>'
        "</fieldset><button type=\"submit\">Sign in</button></form>"))
