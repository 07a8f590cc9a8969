"""Authentication at the gateway: tokens from the org directory, 401 everywhere without one."""

from __future__ import annotations

import pytest

from tests.integration.conftest import PASSWORD, seed_org

pytestmark = pytest.mark.integration


async def test_requests_without_a_valid_token_get_401(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        for method, path in [
            ("GET", "/api/v1/parties/x"),
            ("POST", "/api/v1/parties"),
            ("GET", "/api/v1/notifications"),
        ]:
            reply = await client.request(method, path, json={})
            assert reply.status_code == 401, (path, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer"
            assert reply.headers["content-type"] == "application/problem+json"
        forged = await client.get("/api/v1/notifications", headers={"Authorization": "Bearer not.a.jwt"})
        assert forged.status_code == 401
        # the open endpoints stay open
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_wrong_password_and_unknown_user_get_the_same_401(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        wrong_password = await client.post(
            "/api/v1/auth/token", data={"username": "officer1", "password": "not-the-password"}
        )
        unknown_user = await client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
        assert wrong_password.status_code == unknown_user.status_code == 401
        assert wrong_password.json() == unknown_user.json()
        assert wrong_password.json()["detail"] == "invalid username or password"

        good = await client.post("/api/v1/auth/token", data={"username": "officer1", "password": PASSWORD})
        assert good.status_code == 200
        token = good.json()["access_token"]
        # the token is accepted: the answer is about the party, not about authentication
        reply = await client.get("/api/v1/parties/unknown", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 404
