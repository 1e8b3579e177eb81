"""Password hashing (argon2id) and the password policy.

The policy follows the NCSC's advice: a minimum length, no composition rules, and the most
common passwords refused.
"""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MAX_LENGTH = 256  # long enough for passphrases; bounded so hashing cost stays bounded


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_KIB"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | {"pathways", "london", "hackney", "council"}


_DECORATION = re.compile(r"^[\W\d_]*(?P<core>.*?)[\W\d_]*$")


def _is_simple_pattern(password: str) -> bool:
    """A short unit repeated ("abcabcabcabc") or a run of consecutive characters ("123456789012")."""
    for size in range(1, 5):
        unit = password[:size]
        if unit * (len(password) // size) + unit[: len(password) % size] == password:
            return True
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
             for a, b in zip(password, password[1:], strict=False)}
    return steps <= {1} or steps <= {-1, 9}


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` is not acceptable, or ``None`` when it is."""
    min_length = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < min_length:
        return f"Password must be {min_length} characters or more"
    if len(password) > MAX_LENGTH:
        return f"Password must be {MAX_LENGTH} characters or fewer"
    lowered = password.lower()
    common = _common_passwords()
    # A common word padded with digits or symbols ("Password1234!") is as weak as the word.
    core = _DECORATION.match(lowered).group("core")
    if lowered in common or core in common or _is_simple_pattern(lowered):
        return "Password is too common; try three random words"
    local_part = email.lower().partition("@")[0]
    if local_part and local_part in lowered and len(local_part) >= 4:
        return "Password must not contain your email address"
    if name and lowered.replace(" ", "") == name.lower().replace(" ", ""):
        return "Password must not be your name"
    return None
