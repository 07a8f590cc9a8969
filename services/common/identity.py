"""Who is calling: a signed identity carried from the gateway through every gRPC hop.

The gateway authenticates a staff user and issues an access token; the same token travels in
gRPC metadata (``x-granary-caller``) so each service knows the user, roles and branch without
trusting unsigned headers. Background work (relays, consumers, schedulers) acts as a service
identity signed with the same key.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import jwt

from services.common.errors import Unauthenticated

METADATA_KEY = "x-granary-caller"
_ALGORITHM = "HS256"
_ISSUER = "granary"
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Caller:
    user_id: str
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    branch_id: str = ""
    kind: str = "staff"  # "staff" or "service"
    token: str = field(default="", compare=False, repr=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_system(self) -> bool:
        return self.kind == "service"


class TokenSigner:
    """Signs and verifies caller tokens with one HMAC key."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must have at least 32 characters")
        self._secret = secret

    def issue(
        self,
        *,
        user_id: str,
        username: str,
        roles: list[str] | frozenset[str],
        branch_id: str,
        kind: str = "staff",
        lifetime_seconds: int = 3600,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": user_id,
            "name": username,
            "roles": sorted(roles),
            "branch": branch_id,
            "kind": kind,
            "iat": now,
            "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the token is not valid", reason="TOKEN_INVALID") from exc
        return Caller(
            user_id=str(claims["sub"]),
            username=str(claims.get("name", "")),
            roles=frozenset(claims.get("roles", [])),
            branch_id=str(claims.get("branch", "")),
            kind=str(claims.get("kind", "staff")),
            token=token,
        )

    def service_caller(self, service_name: str) -> Caller:
        """The identity a service uses for work no user started (consumers, timers)."""
        token = self.issue(
            user_id=f"service:{service_name}",
            username=service_name,
            roles=[SYSTEM_ROLE],
            branch_id="",
            kind="service",
            lifetime_seconds=3600,
        )
        return self.verify(token)


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("granary_caller", default=None)


def current_caller() -> Caller | None:
    return _current.get()


def require_caller() -> Caller:
    caller = _current.get()
    if caller is None:
        raise Unauthenticated("no caller identity on this call")
    return caller


@contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)


class ServiceIdentity:
    """A service's own caller, re-signed shortly before it expires."""

    _RENEW_BEFORE_SECONDS = 300

    def __init__(self, signer: TokenSigner, service_name: str) -> None:
        self._signer = signer
        self._name = service_name
        self._caller: Caller | None = None
        self._expires_at = 0.0

    def __call__(self) -> Caller:
        if self._caller is None or self._expires_at - time.time() < self._RENEW_BEFORE_SECONDS:
            self._caller = self._signer.service_caller(self._name)
            claims = jwt.decode(self._caller.token, options={"verify_signature": False})
            self._expires_at = float(claims["exp"])
        return self._caller
