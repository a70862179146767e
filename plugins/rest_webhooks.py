"""Built-in plugin: the session webhook registry over REST, under ``/api/whatsapp`` (the original contract).

``POST /api/whatsapp/sessions/<sessionId>/webhooks {url}`` → 201 with the record;
``GET .../webhooks`` → the session's records, oldest first; ``DELETE .../webhooks/<id>`` →
``{id, sessionId}``. Bad session id or URL → 400 naming the field (and, for the URL, the rule); the
same normalised URL twice for one session → ``409 {"error": "duplicate_webhook_url", "existingId"}``;
an unknown id (or one of another session) → 404. Credentials are checked centrally by the app for
everything under ``/api/whatsapp``.

This plugin does NOT validate, normalise or store anything itself (``waporta.webhooks`` does) and does
NOT deliver webhooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response, jsonify

from waporta import hookimpl
from waporta.app import ApiError, current_hub, json_object
from waporta.openapi import doc
from waporta.webhooks import (
    SESSION_ID_RE,
    DuplicateWebhookUrl,
    InvalidSessionId,
    InvalidWebhookUrl,
    validate_session_id,
)

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub

__all__ = ["WEBHOOK_RECORD", "register_routes"]

#: JSON schema of a webhook record as the API returns it.
WEBHOOK_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "sessionId", "url", "normalizedUrl", "enabled", "createdAt", "updatedAt"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{16}$", "example": "a1b2c3d4e5f6a7b8"},
        "sessionId": {"type": "string", "example": "sales-bot"},
        "url": {"type": "string", "example": "https://example.com/incoming/whatsapp"},
        "normalizedUrl": {"type": "string", "example": "https://example.com/incoming/whatsapp"},
        "enabled": {"type": "boolean", "example": True},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}

# OpenAPI patterns are ECMA-262 regexes: Python's \A / \Z anchors become ^ / $.
_SESSION_PATTERN = SESSION_ID_RE.pattern.replace("\\A", "^").replace("\\Z", "$")
_SESSION_PARAM: dict[str, Any] = {"type": "string", "pattern": _SESSION_PATTERN, "example": "sales-bot"}
_BASE = "/api/whatsapp/sessions/<sessionId>/webhooks"


def _session(session_id: str) -> str:
    try:
        return validate_session_id(session_id)
    except InvalidSessionId as exc:
        raise ApiError(400, "invalid_session_id", str(exc), field="sessionId") from None


@hookimpl
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add the three webhook registry routes under ``/api/whatsapp/sessions/<sessionId>/webhooks``."""

    @app.post(_BASE, endpoint="rest_webhooks.create")
    @doc(
        "Register an HTTPS webhook URL for a session",
        description="The URL must be absolute HTTPS, at most 2048 characters, without a fragment. "
        "Scheme and host are compared case-insensitively and the default port is ignored, so "
        "`HTTPS://Example.com:443` duplicates `https://example.com/`.",
        tags=["Webhooks"],
        path_params={"sessionId": _SESSION_PARAM},
        request={
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": 2048, "example": "https://example.com/hook"}
            },
        },
        responses={
            201: ("created", WEBHOOK_RECORD),
            400: ("invalid sessionId or url; `field` and `rule` say which and why", None),
            409: (
                "this session already has that URL",
                {
                    "type": "object",
                    "required": ["error", "existingId"],
                    "properties": {
                        "error": {"const": "duplicate_webhook_url"},
                        "message": {"type": "string"},
                        "existingId": {"type": "string"},
                    },
                },
            ),
        },
    )
    async def create_webhook(sessionId: str) -> Response:
        session_id = _session(sessionId)
        body = await json_object()
        try:
            url = body.get("url")
            if not isinstance(url, str):
                raise InvalidWebhookUrl("url_required")
            record = await current_hub().webhooks.create(session_id, url)
        except InvalidSessionId as exc:
            raise ApiError(400, "invalid_session_id", str(exc), field="sessionId") from None
        except InvalidWebhookUrl as exc:
            raise ApiError(400, "invalid_webhook_url", str(exc), field="url", rule=exc.rule) from None
        except DuplicateWebhookUrl as exc:
            raise ApiError(
                409,
                "duplicate_webhook_url",
                "this URL is already registered for this session",
                existingId=exc.existing_id,
            ) from None
        response = jsonify(record.to_json())
        response.status_code = 201
        return response

    @app.get(_BASE, endpoint="rest_webhooks.list")
    @doc(
        "List a session's webhook URLs, oldest first",
        tags=["Webhooks"],
        path_params={"sessionId": _SESSION_PARAM},
        responses={
            200: ("the session's records", {"type": "array", "items": WEBHOOK_RECORD}),
            400: ("invalid sessionId", None),
        },
    )
    async def list_webhooks(sessionId: str) -> list[dict[str, Any]]:
        session_id = _session(sessionId)
        return [record.to_json() for record in await current_hub().webhooks.list(session_id)]

    @app.delete(_BASE + "/<id>", endpoint="rest_webhooks.delete")
    @doc(
        "Delete a webhook URL",
        tags=["Webhooks"],
        path_params={"sessionId": _SESSION_PARAM, "id": "the record's `id`"},
        responses={
            200: (
                "deleted",
                {
                    "type": "object",
                    "required": ["id", "sessionId"],
                    "properties": {"id": {"type": "string"}, "sessionId": {"type": "string"}},
                },
            ),
            400: ("invalid sessionId", None),
            404: ("no such webhook in this session", None),
        },
    )
    async def delete_webhook(sessionId: str, id: str) -> dict[str, Any]:
        session_id = _session(sessionId)
        if not await current_hub().webhooks.delete(session_id, id):
            raise ApiError(404, "not_found", f"no webhook with this id in session {session_id}")
        return {"id": id, "sessionId": session_id}
