"""Built-in plugin: dashboard login and logout over REST (``/api/auth/*``).

``POST /api/auth/login {username, password}`` answers ``{token, expiresAt}``; failed logins are
throttled per client address (429 with ``Retry-After``). ``POST /api/auth/logout`` revokes the bearer
token it is called with; ``GET /api/auth/check`` tells whether a token is still valid.

This plugin does NOT check passwords or mint tokens itself: ``hub.auth`` (``waporta.auth``) does. It
is registered like any third-party plugin, through ``register_routes``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from quart import request

from waporta import hookimpl
from waporta.app import ApiError, current_hub, dashboard_required, json_object, str_field
from waporta.auth import LoginFailed, LoginThrottled
from waporta.openapi import doc

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = ["LOGIN_REQUEST", "LOGIN_RESPONSE", "register_routes"]

#: JSON schema of the login request body.
LOGIN_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "example": "admin"},
        "password": {"type": "string", "format": "password"},
    },
}

#: JSON schema of a successful login.
LOGIN_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["token", "expiresAt"],
    "properties": {
        "token": {"type": "string", "description": "send as `Authorization: Bearer <token>`"},
        "expiresAt": {"type": "string", "format": "date-time", "example": "2026-05-06T00:00:00.000Z"},
    },
}

_OK: dict[str, Any] = {"type": "object", "properties": {"ok": {"const": True}}}


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add ``/api/auth/login``, ``/api/auth/logout`` and ``/api/auth/check``."""

    @app.post("/api/auth/login", endpoint="rest_auth.login")
    @doc(
        "Log in to the dashboard and get a bearer token",
        description="Repeated failures from one client address are throttled: 429 with Retry-After.",
        tags=["Auth"],
        request=LOGIN_REQUEST,
        responses={
            200: ("logged in", LOGIN_RESPONSE),
            400: ("a field is missing or not a string", None),
            401: ("wrong username or password", None),
            429: ("too many failed attempts; see the Retry-After header", None),
        },
    )
    async def login() -> dict[str, Any]:
        body = await json_object()
        username = str_field(body, "username")
        password = str_field(body, "password")
        try:
            issued = await current_hub().auth.login(
                username, password, client=request.remote_addr or "unknown"
            )
        except LoginThrottled as exc:
            seconds = max(1, math.ceil(exc.retry_after))
            raise ApiError(
                429,
                "rate_limited",
                f"too many failed logins from this client; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
                retryAfterMs=seconds * 1000,
            ) from None
        except LoginFailed:
            raise ApiError(401, "invalid_credentials", "wrong username or password") from None
        return issued.to_json()

    @app.post("/api/auth/logout", endpoint="rest_auth.logout")
    @doc(
        "Revoke the bearer token of this request",
        tags=["Auth"],
        responses={200: ("the token no longer works", _OK)},
    )
    @dashboard_required
    async def logout() -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        await current_hub().auth.logout(header.partition(" ")[2].strip())
        return {"ok": True}

    @app.get("/api/auth/check", endpoint="rest_auth.check")
    @doc(
        "Check that the bearer token is still valid",
        tags=["Auth"],
        responses={200: ("the token is valid", _OK)},
    )
    @dashboard_required
    async def check() -> dict[str, Any]:
        return {"ok": True}
