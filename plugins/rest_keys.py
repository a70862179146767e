"""Built-in plugin: API key management over REST (``/api/keys``), for logged-in dashboard users only.

``POST /api/keys {name}`` answers 201 with the raw key (``wap_...``): the only time it is ever shown.
``GET /api/keys`` lists id, name, prefix, createdAt, lastUsedAt (never the key).
``DELETE /api/keys/<id>`` revokes one. An API key cannot manage keys: only a dashboard bearer token can.

This plugin does NOT generate, hash or store keys itself: ``hub.auth`` (``waporta.auth``) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response, jsonify

from waporta import hookimpl
from waporta.app import ApiError, current_hub, dashboard_required, json_object, str_field
from waporta.auth import KEY_NAME_MAX, InvalidKeyName
from waporta.openapi import doc

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = ["API_KEY_INFO", "CREATED_API_KEY", "MAX_NAME_LENGTH", "register_routes"]

#: Longest accepted key name (``waporta.auth`` decides).
MAX_NAME_LENGTH = KEY_NAME_MAX

#: JSON schema of a listed key (never contains the key itself).
API_KEY_INFO: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "prefix", "createdAt", "lastUsedAt"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string", "example": "worker"},
        "prefix": {"type": "string", "description": "the first characters of the key, to recognise it"},
        "createdAt": {"type": "string", "format": "date-time"},
        "lastUsedAt": {"type": ["string", "null"], "format": "date-time"},
    },
}

#: JSON schema of a freshly created key: the listing fields plus ``key``, shown once.
CREATED_API_KEY: dict[str, Any] = {
    **API_KEY_INFO,
    "required": [*API_KEY_INFO["required"], "key"],
    "properties": {
        **API_KEY_INFO["properties"],
        "key": {"type": "string", "description": "the raw key (`wap_...`); it is never shown again"},
    },
}


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add ``POST/GET /api/keys`` and ``DELETE /api/keys/<id>``."""

    @app.post("/api/keys", endpoint="rest_keys.create")
    @doc(
        "Create an API key (the key is shown once)",
        tags=["API keys"],
        request={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "maxLength": MAX_NAME_LENGTH, "example": "worker"}},
        },
        responses={
            201: ("the new key; store it now, it is not shown again", CREATED_API_KEY),
            400: ("`name` is missing, empty, too long or has control characters", None),
        },
    )
    @dashboard_required
    async def create_key() -> Response:
        body = await json_object()
        name = str_field(body, "name", max_length=MAX_NAME_LENGTH, strip=True)
        try:
            info, raw = await current_hub().auth.create_key(name)
        except InvalidKeyName as exc:
            raise ApiError(400, "invalid_request", f"`name`: {exc}", field="name") from None
        response = jsonify({**info.to_json(), "key": raw})
        response.status_code = 201
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/api/keys", endpoint="rest_keys.list")
    @doc(
        "List API keys (never the keys themselves)",
        tags=["API keys"],
        responses={200: ("the keys, oldest first", {"type": "array", "items": API_KEY_INFO})},
    )
    @dashboard_required
    async def list_keys() -> list[dict[str, Any]]:
        return [info.to_json() for info in await current_hub().auth.list_keys()]

    @app.delete("/api/keys/<id>", endpoint="rest_keys.revoke")
    @doc(
        "Revoke an API key",
        tags=["API keys"],
        path_params={"id": "the key's `id` from the listing"},
        responses={
            200: ("revoked", {"type": "object", "properties": {"ok": {"const": True}}}),
            404: ("no key with this id", None),
        },
    )
    @dashboard_required
    async def revoke_key(id: str) -> dict[str, Any]:
        if not await current_hub().auth.revoke_key(id):
            raise ApiError(404, "not_found", "no API key with this id")
        return {"ok": True}
