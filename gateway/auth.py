"""Authentication (bearer JWT) and role checks declared on routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from services.common.errors import DomainError
from services.common.identity import Caller, TokenSigner

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def signer(request: Request) -> TokenSigner:
    return request.app.state.signer  # type: ignore[no-any-return]


async def current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Caller:
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required", headers=_UNAUTHORIZED)
    try:
        caller = signer(request).verify(token)
    except DomainError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.message, headers=_UNAUTHORIZED) from None
    if caller.kind != "staff":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not a user token", headers=_UNAUTHORIZED)
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]


class RequireRoles:
    """Route dependency: the user must hold one of the roles."""

    def __init__(self, *roles: str) -> None:
        self.roles = roles

    async def __call__(self, user: CurrentUser) -> Caller:
        if not user.has_role(*self.roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your roles do not allow this")
        return user
