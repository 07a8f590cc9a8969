"""The org directory's rules: staff roles and password handling."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.common.errors import InvalidArgument

ROLES: frozenset[str] = frozenset(
    {
        "officer",
        "supervisor",
        "president",
        "risk_director",
        "committee_member",
        "process_owner",
        "admin",
        "auditor",
    }
)

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Verified when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("granary-timing-equaliser")


def check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise InvalidArgument.for_field("roles", f"unknown roles: {', '.join(unknown)}")
    if not roles:
        raise InvalidArgument.for_field("roles", "at least one role is required")
    return sorted(set(roles))


def check_username(username: str) -> str:
    cleaned = username.strip().lower()
    if not (3 <= len(cleaned) <= 64) or not all(c.isalnum() or c in "._-" for c in cleaned):
        raise InvalidArgument.for_field("username", "3-64 letters, digits, '.', '_' or '-'")
    return cleaned


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument.for_field("password", f"must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """With no hash (unknown user) a dummy hash is verified, so the caller's timing is uniform."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
