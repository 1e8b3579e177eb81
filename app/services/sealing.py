"""Secrets kept at rest in the database (authenticator apps' secrets, identity providers' client secrets), sealed
with AES-GCM under a key derived from SECRET_KEY for one purpose, and bound to the row they belong to.

A sealed value is ``v1.<base64url(nonce + ciphertext)>``. It opens with SECRET_KEY or any of SECRET_KEY_FALLBACKS
(older secret keys), so rotating the secret key keeps every sealed secret readable."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_VERSION = "v1"
_NONCE_BYTES = 12


def _derive(secret_key: str | bytes, purpose: bytes) -> bytes:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    # A key for each purpose, so nothing else signed or encrypted with SECRET_KEY opens with it.
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(material)


def _keys(purpose: bytes) -> list[bytes]:
    """The current key, then those of SECRET_KEY_FALLBACKS."""
    config = current_app.config
    return [_derive(key, purpose) for key in [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or [])]]


def seal(secret: str, *, purpose: bytes, bound_to: str) -> str:
    """``secret`` sealed for ``purpose``; ``bound_to`` names its row (copied onto another row, it does not open)."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_keys(purpose)[0]).encrypt(nonce, secret.encode(), bound_to.encode())
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(sealed: str, *, purpose: bytes, bound_to: str) -> str | None:
    """The secret, or None when no key opens it (tampered, another row's, or sealed under a key since dropped)."""
    version, _, body = sealed.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body.encode())
    except ValueError:
        return None
    if version != _VERSION or len(raw) <= _NONCE_BYTES:
        return None
    for key in _keys(purpose):
        try:
            return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode()).decode()
        except InvalidTag:
            continue
    return None
