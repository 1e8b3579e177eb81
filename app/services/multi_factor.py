"""Multi-factor sign-in: an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

- Codes are 6 digits for 30-second steps; the step before and the step after are accepted too, for a phone
  whose clock has drifted. The step of the last code accepted is kept, and a code of that step or an earlier one
  is refused, so a code seen over someone's shoulder or replayed from a log never works. Accepting a step is one
  conditional UPDATE, so two requests racing with one code cannot both win.
- The TOTP secret is encrypted (AES-256-GCM, bound to the person's id) with a key derived from SECRET_KEY, so a
  copy of the database alone (a backup, a dump) does not let anyone make codes, and it is never shown again
  after setup. Keys in SECRET_KEY_FALLBACKS still read secrets sealed before SECRET_KEY was changed; without
  them, a changed SECRET_KEY means everyone sets their app up again (``flask users reset-second-factor``).
- Recovery codes are hashed like passwords (argon2id) and each works once.
- Wrong codes are counted per person in the database (not in the session, which the browser holds): after
  ``MAX_WRONG_CODES`` in the sign-in window, every code is refused until the window has passed.

Services add and flush; the caller commits.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import case, delete, func, or_, select, update

from app.extensions import db
from app.models import Person, RecoveryCode, Role, SecondFactor
from app.models.types import utcnow
from app.services import ServiceError, audit, sealing
from app.services.passwords import hash_password, verify_password

# Roles that must use a second factor; anyone else may choose to.
REQUIRED_FOR = frozenset({Role.ADMIN, Role.COORDINATOR})
ISSUER = "Pathways"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# 10 characters from 31 unambiguous ones (no 0/o, 1/l/i): about 50 bits, salted and hashed with argon2id.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_LENGTH = 10
MAX_WRONG_CODES = 5
# How long the password step is remembered while the code is asked for, and how recent a code must be for
# changes that matter (someone's roles, resetting someone's second factor).
PENDING_MINUTES = 5
STEP_UP_MINUTES = 15


CODE_NEEDED = "Enter the 6-digit code from your authenticator app"
CODE_FORMAT = "The code must be 6 numbers"
CODE_WRONG = "The code is not correct. Check your authenticator app and enter the code it shows now"
CODE_USED = "This code has already been used. Wait for your authenticator app to show a new code"
RECOVERY_NEEDED = "Enter one of your recovery codes"
RECOVERY_WRONG = "The recovery code is not correct or has already been used"


class CodesThrottled(ServiceError):
    def __init__(self, minutes: int, field: str = "code"):
        super().__init__(
            f"Too many wrong codes. Wait {minutes} minute{'s' if minutes != 1 else ''} and try again", field=field
        )
        self.minutes = minutes


class SecretUnreadable(ServiceError):
    """The secret was sealed with a key Pathways no longer has (SECRET_KEY changed)."""

    def __init__(self, field: str = "code"):
        super().__init__("Pathways cannot check codes from your authenticator app at the moment. Use a recovery "
                         "code, or ask an admin to reset your sign-in with an authenticator app", field=field)


# Who needs it ---------------------------------------------------------------------------------------------


def required_for(person: Person) -> bool:
    """Admins and coordinators cannot sign in without a second factor."""
    return bool(person.roles & REQUIRED_FOR)


def second_factor_of(person: Person) -> SecondFactor | None:
    return db.session.scalar(select(SecondFactor).where(SecondFactor.person_id == person.id))


def unused_recovery_codes(factor: SecondFactor) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.second_factor_id == factor.id, RecoveryCode.used_at.is_(None)))


# The secret -----------------------------------------------------------------------------------------------


def new_secret() -> str:
    """160 random bits in base 32, as RFC 4226 recommends and authenticator apps expect."""
    return pyotp.random_base32(length=32)


# Sealed at rest (``sealing``): the purpose keeps its key apart from every other use of SECRET_KEY.
_SEAL_PURPOSE = b"pathways second factor secret"


def _bound_to(person_id: int) -> str:
    return f"person:{person_id}"


def seal(secret: str, person_id: int) -> str:
    return sealing.seal(secret, purpose=_SEAL_PURPOSE, bound_to=_bound_to(person_id))


def unseal(sealed: str, person_id: int, field: str = "code") -> str:
    secret = sealing.unseal(sealed, purpose=_SEAL_PURPOSE, bound_to=_bound_to(person_id))
    if secret is None:
        raise SecretUnreadable(field)
    return secret


def provisioning_uri(person: Person, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=person.email, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# Codes --------------------------------------------------------------------------------------------------


def clean_code(code: str | None) -> str:
    """The digits typed, without the spaces and dashes people (and password managers) put in."""
    return "".join((code or "").split()).replace("-", "")


def code_problem(code: str | None) -> str | None:
    cleaned = clean_code(code)
    if not cleaned:
        return CODE_NEEDED
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return CODE_FORMAT
    return None


def time_step(at: datetime | None = None) -> int:
    return int((at or utcnow()).timestamp()) // STEP_SECONDS


def code_for(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step ``code`` belongs to, within the drift allowed, or None."""
    current = time_step(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time, so timing says nothing about which matched.
        if hmac.compare_digest(code_for(secret, step), code) and found is None:
            found = step
    return found


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["SIGN_IN_WINDOW_MINUTES"])


def _count_attempt(factor: SecondFactor, field: str) -> None:
    """Count this attempt against the person's limit, or refuse it when the limit is reached.

    One UPDATE that only succeeds under the limit: it locks the row until the caller commits, so parallel
    guesses for one person are counted one after another and cannot slip past the limit together. A right
    code sets the count back to nothing."""
    now = utcnow()
    window_start = now - _window()
    fresh_window = or_(SecondFactor.failures_since.is_(None), SecondFactor.failures_since < window_start)
    counted = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.id == factor.id, or_(SecondFactor.wrong_codes < MAX_WRONG_CODES, fresh_window))
        .values(wrong_codes=case((fresh_window, 1), else_=SecondFactor.wrong_codes + 1),
                failures_since=case((fresh_window, now), else_=SecondFactor.failures_since))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(factor)
    if not counted:
        remaining = factor.failures_since + _window() - now
        raise CodesThrottled(max(1, math.ceil(remaining.total_seconds() / 60)), field)


def _wrong(factor: SecondFactor, message: str, field: str) -> ServiceError:
    if factor.wrong_codes == MAX_WRONG_CODES:
        audit.record(factor.person, "second_factor.throttled", factor.person,
                     f"{MAX_WRONG_CODES} wrong codes in a row: sign-in codes refused for a while")
    return ServiceError(message, field=field)


def _accepted(factor: SecondFactor) -> None:
    factor.wrong_codes = 0
    factor.failures_since = None
    factor.last_used_at = utcnow()


def check_code(person: Person, code: str) -> SecondFactor:
    """Accept ``code`` from ``person``'s authenticator app once, or raise ``ServiceError`` (the caller commits
    either way, so wrong codes count)."""
    factor = second_factor_of(person)
    if factor is None:
        raise ServiceError("You have not set up an authenticator app", field="code")
    problem = code_problem(code)
    if problem:
        raise ServiceError(problem, field="code")
    _count_attempt(factor, "code")
    secret = unseal(factor.sealed_secret, person.id)
    step = _matching_step(secret, clean_code(code), utcnow())
    if step is None:
        raise _wrong(factor, CODE_WRONG, "code")
    # Only one request can move the step past this one: a replay, or the same code racing, changes no row.
    won = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.id == factor.id,
               or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step))
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(factor)
    if not won:
        raise _wrong(factor, CODE_USED, "code")
    _accepted(factor)
    db.session.flush()
    return factor


def clean_recovery_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def use_recovery_code(person: Person, code: str) -> int:
    """Accept one of ``person``'s unused recovery codes once; the number left. Audited."""
    factor = second_factor_of(person)
    if factor is None:
        raise ServiceError("You have not set up an authenticator app", field="recovery_code")
    cleaned = clean_recovery_code(code)
    if not cleaned:
        raise ServiceError(RECOVERY_NEEDED, field="recovery_code")
    _count_attempt(factor, "recovery_code")
    unused = db.session.scalars(select(RecoveryCode).where(
        RecoveryCode.second_factor_id == factor.id, RecoveryCode.used_at.is_(None)).order_by(RecoveryCode.id)).all()
    match = next((c for c in unused if len(cleaned) == RECOVERY_CODE_LENGTH and verify_password(c.code_hash, cleaned)),
                 None)
    # Marked used only if nobody else used it meanwhile.
    if match is None or not db.session.execute(
        update(RecoveryCode).where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount:
        raise _wrong(factor, RECOVERY_WRONG, "recovery_code")
    _accepted(factor)
    left = len(unused) - 1
    audit.record(person, "second_factor.recovery_code_used", person,
                 f"Signed in with a recovery code ({left} left)", left=left)
    db.session.flush()
    return left


# Setting up, renewing, turning off and resetting ----------------------------------------------------------


def _make_recovery_codes(factor: SecondFactor) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.second_factor_id == factor.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(second_factor_id=factor.id, code_hash=hash_password(code)) for code in codes)
    return [format_recovery_code(code) for code in codes]


def format_recovery_code(code: str) -> str:
    half = RECOVERY_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def set_up(person: Person, secret: str, code: str) -> list[str]:
    """Start using the authenticator app holding ``secret``, once it shows it can make a right ``code``;
    replaces any earlier app and recovery codes. The new recovery codes, to show once."""
    problem = code_problem(code)
    if problem:
        raise ServiceError(problem, field="code")
    step = _matching_step(secret, clean_code(code), utcnow())
    if step is None:
        raise ServiceError(CODE_WRONG, field="code")
    factor = second_factor_of(person)
    replacing = factor is not None
    if factor is None:
        factor = SecondFactor(person_id=person.id, sealed_secret="")
        db.session.add(factor)
    factor.sealed_secret = seal(secret, person.id)
    factor.created_at = factor.last_used_at = utcnow()
    # The code that proved the app cannot then be used to sign in.
    factor.last_used_step = step
    factor.wrong_codes, factor.failures_since = 0, None
    db.session.flush()
    codes = _make_recovery_codes(factor)
    if replacing:
        audit.record(person, "second_factor.replaced", person, "Set up a new authenticator app for signing in")
    else:
        audit.record(person, "second_factor.set_up", person, "Set up an authenticator app for signing in")
    db.session.flush()
    return codes


def renew_recovery_codes(person: Person) -> list[str]:
    factor = second_factor_of(person)
    if factor is None:
        raise ServiceError("You have not set up an authenticator app")
    codes = _make_recovery_codes(factor)
    audit.record(person, "second_factor.recovery_codes_renewed", person,
                 "Made new recovery codes (the old ones no longer work)")
    db.session.flush()
    return codes


def turn_off(person: Person) -> None:
    """Someone who may do without a second factor stops using theirs."""
    if required_for(person):
        raise ServiceError("Admins and coordinators must sign in with an authenticator app")
    factor = second_factor_of(person)
    if factor is None:
        raise ServiceError("You have not set up an authenticator app")
    db.session.delete(factor)
    audit.record(person, "second_factor.turned_off", person, "Stopped using an authenticator app for signing in")
    db.session.flush()


def reset(actor: Person | None, person: Person, reason: str = "") -> None:
    """Remove ``person``'s authenticator app and recovery codes (a lost phone): at their next sign-in they set
    one up again if they must. ``actor`` is None for the command line."""
    if actor is not None and actor.id == person.id:
        raise ServiceError("You cannot reset your own sign-in with an authenticator app here: set up a new app "
                           "from your account instead")
    factor = second_factor_of(person)
    if factor is None:
        raise ServiceError(f"{person.name} has not set up an authenticator app")
    db.session.delete(factor)
    reason = " ".join((reason or "").split())
    audit.record(actor, "second_factor.reset", person,
                 f"Reset sign-in with an authenticator app{': ' + reason if reason else ''}", reason=reason)
    db.session.flush()
