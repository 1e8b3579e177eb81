"""The password policy and password hashing."""


import pytest

from app.services.passwords import MAX_LENGTH, hash_password, needs_rehash, password_problem, verify_password

TOO_COMMON = "Password is too common; try three random words"


def test_a_passphrase_is_acceptable():
    assert password_problem("correct-horse-battery-staple") is None
    assert password_problem("violet lantern orbit meadow", email="sam@example.org", name="Sam Rivera") is None


def test_minimum_length(app):
    minimum = app.config["PASSWORD_MIN_LENGTH"]
    assert minimum == 12
    assert password_problem("qxvbrtlmzk" + "w" * (minimum - 11)) == f"Password must be {minimum} characters or more"
    assert password_problem("qxvbrtlmzk" + "w" * (minimum - 10)) is None
    assert password_problem("") == f"Password must be {minimum} characters or more"


def test_minimum_length_follows_the_configuration(app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_MIN_LENGTH", 16)
    assert password_problem("qxvbrtlmzkwpfgh") == "Password must be 16 characters or more"
    assert password_problem("qxvbrtlmzkwpfghj") is None


def test_length_counts_characters_not_bytes():
    assert password_problem("ñandú-cañón") == "Password must be 12 characters or more"  # 11 characters, 15 bytes
    assert password_problem("ñandú-cañónes") is None


def test_maximum_length():
    assert MAX_LENGTH == 256
    long_phrase = ("lantern orbit meadow violet " * 10)[:MAX_LENGTH]
    assert len(long_phrase) == MAX_LENGTH
    assert password_problem(long_phrase) is None
    assert password_problem(long_phrase + "x") == f"Password must be {MAX_LENGTH} characters or fewer"


COMMON = [
    "password1234",
    "PASSWORD1234",
    "Password1234!",
    "!!password2024!!",
    "1234password",
    "qwertyuiop123",
    "Pathways2024!",
    "london123456",
    "Hackney-12345",
    "aaaaaaaaaaaa",
    "abababababab",
    "1212121212121",
]


def test_common_and_decorated_common_passwords_are_refused():
    for password in COMMON:
        assert password_problem(password) == TOO_COMMON, password


def test_a_common_word_inside_a_longer_phrase_is_fine():
    assert password_problem("password-of-violet-lanterns") is None
    assert password_problem("my london orbit meadow") is None


def test_password_containing_the_email_local_part_is_refused():
    message = "Password must not contain your email address"
    assert password_problem("xyz-samrivera-2024", email="samrivera@example.org") == message
    assert password_problem("xyz-SamRivera-2024", email="SamRivera@Example.org") == message
    assert password_problem("lantern-samrivera", email="SAMRIVERA@example.org") == message
    # The domain may appear; very short local parts are not checked.
    assert password_problem("example.org-lantern", email="samrivera@example.org") is None
    assert password_problem("sam-lantern-orbit", email="sam@example.org") is None


def test_password_that_is_the_persons_name_is_refused():
    assert password_problem("Alexandra Fitzgerald", name="Alexandra Fitzgerald") == "Password must not be your name"
    assert password_problem("alexandrafitzgerald", name="Alexandra Fitzgerald") == "Password must not be your name"
    assert password_problem("Alexandra Fitzgerald rocks", name="Alexandra Fitzgerald") is None


def test_hash_and_verify_round_trip():
    password = "violet-lantern-orbit-meadow"
    hashed = hash_password(password)
    assert hashed.startswith("$argon2id$")
    assert password not in hashed
    assert verify_password(hashed, password)
    assert not verify_password(hashed, password.upper())
    assert not verify_password(hashed, password + " ")
    assert not verify_password(hashed, "")


def test_each_hash_has_its_own_salt():
    first, second = hash_password("violet-lantern-orbit-meadow"), hash_password("violet-lantern-orbit-meadow")
    assert first != second
    assert verify_password(first, "violet-lantern-orbit-meadow")
    assert verify_password(second, "violet-lantern-orbit-meadow")


def test_unicode_passwords_round_trip():
    hashed = hash_password("ñandú cañón 北京 🚲 lantern")
    assert verify_password(hashed, "ñandú cañón 北京 🚲 lantern")
    assert not verify_password(hashed, "nandu canon 北京 🚲 lantern")


def test_verify_refuses_missing_or_broken_hashes():
    for stored in (None, "", "not-a-hash", "$argon2id$v=19$m=1024,t=1,p=1$broken"):
        assert verify_password(stored, "violet-lantern-orbit-meadow") is False, stored


def test_hashes_use_the_configured_cost_and_are_upgraded_when_it_changes(app, monkeypatch):
    hashed = hash_password("violet-lantern-orbit-meadow")
    memory, time_cost, parallelism = (app.config[k] for k in ("ARGON2_MEMORY_KIB", "ARGON2_TIME_COST",
                                                               "ARGON2_PARALLELISM"))
    assert f"$m={memory},t={time_cost},p={parallelism}$" in hashed
    assert not needs_rehash(hashed)
    monkeypatch.setitem(app.config, "ARGON2_TIME_COST", time_cost + 1)
    assert needs_rehash(hashed)
    assert verify_password(hashed, "violet-lantern-orbit-meadow")  # old hashes still verify


@pytest.mark.parametrize("password", ["123456789012", "987654321098", "abcdefghijklm", "abcabcabcabc", "zzzzzzzzzzzz"])
def test_simple_patterns_are_refused(password):
    assert password_problem(password) == "Password is too common; try three random words"
