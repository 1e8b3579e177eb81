"""Serving Pathways for a benchmark: gunicorn (2 sync workers, production settings) on loopback, plain HTTP
requests with a new connection each (sync workers close them), and signing in through the real form."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-pathways-not-a-secret-0123456789abcdef"  # noqa: S105 - throwaway server
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def serve(url: str, port: int, app_root: Path = ROOT) -> subprocess.Popen:
    """gunicorn serving the Pathways of ``app_root`` (another checkout, to measure older code with the same
    benchmark), with this checkout's virtual environment."""
    env = dict(os.environ, PATHWAYS_ENV="production", SECRET_KEY=SECRET_KEY, DATABASE_URL=url,
               SESSION_COOKIE_SECURE="false", LOG_LEVEL="WARNING", BASE_URL=f"http://127.0.0.1:{port}")
    if app_root != ROOT:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(app_root), os.environ.get("PYTHONPATH")]))
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", "2", "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
        cwd=app_root, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            status, _body, _headers = request(port, "/healthz")
            if status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def request(port: int, path: str, *, method: str = "GET", body: str | None = None, cookie: str = ""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data, response.headers


# Authenticator app keys the benchmark's admins and coordinators set up, and the last time step each used: a
# code is accepted once, so a second sign-in within 30 seconds uses the next step (inside the allowed drift).
_SECRETS: dict[str, str] = {}
_LAST_STEP: dict[str, int] = {}
SECRET_ON_PAGE = re.compile(r"<code>([A-Z2-7 ]{16,})</code>")


def _cookie(headers, current: str) -> str:
    return headers["Set-Cookie"].split(";", 1)[0] if headers.get("Set-Cookie") else current


def authenticator_keys() -> dict[str, str]:
    """The keys of the authenticator apps set up so far, by email address (to sign in again in a later run)."""
    return dict(_SECRETS)


def remember_authenticator_keys(keys: dict[str, str]) -> None:
    _SECRETS.update(keys)


def second_step_code(email: str, html: str) -> str:
    """The code that answers the second step's page ``html``: the set-up page shows the key of a new app."""
    shown = SECRET_ON_PAGE.search(html)
    if shown:
        _SECRETS[email] = shown.group(1).replace(" ", "")
    return _code(email)


def _code(email: str) -> str:
    import pyotp

    step = max(int(time.time()) // 30, _LAST_STEP.get(email, -1) + 1)
    while step > int(time.time()) // 30 + 1:
        time.sleep(1)
    _LAST_STEP[email] = step
    return pyotp.TOTP(_SECRETS[email]).generate_otp(step)


def sign_in(port: int, email: str, password: str) -> str:
    """The session cookie of ``email``, signed in through the real form (with the second step that admins and
    coordinators take: setting up an authenticator app the first time, a code after)."""
    status, body, headers = request(port, "/sign-in")
    cookie = _cookie(headers, "")
    token = CSRF.search(body.decode()).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password})
    status, _body, headers = request(port, "/sign-in", method="POST", body=form, cookie=cookie)
    assert status == 302, status
    cookie = _cookie(headers, cookie)
    step = urllib.parse.urlsplit(headers.get("Location", "")).path
    if step in ("/sign-in/code", "/account/authenticator/set-up"):
        _status, page, headers = request(port, step, cookie=cookie)
        cookie = _cookie(headers, cookie)
        html = page.decode()
        form = urllib.parse.urlencode({"csrf_token": CSRF.search(html).group(1),
                                       "code": second_step_code(email, html)})
        status, _body, headers = request(port, step, method="POST", body=form, cookie=cookie)
        assert status in (200, 302), status
        cookie = _cookie(headers, cookie)
    return cookie
