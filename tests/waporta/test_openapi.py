"""waporta.openapi: rule → path conversion, metadata, and that every rule of a URL map is described."""

from __future__ import annotations

from typing import Any

import pytest
from quart_trio import QuartTrio

from waporta.openapi import (
    API_KEY_SCHEME,
    BEARER_SCHEME,
    build_spec,
    doc,
    get_operation,
    openapi_path,
    set_auth,
)


@pytest.mark.parametrize(
    ("rule", "path", "params"),
    [
        ("/health", "/health", []),
        ("/a/<x>", "/a/{x}", [("x", "default")]),
        ("/a/<int:n>/b/<path:rest>", "/a/{n}/b/{rest}", [("n", "int"), ("rest", "path")]),
        ("/s/<sessionId>/w/<id>", "/s/{sessionId}/w/{id}", [("sessionId", "default"), ("id", "default")]),
        ("/c/<any(a,b):kind>", "/c/{kind}", [("kind", "any")]),
    ],
)
def test_openapi_path_converts_werkzeug_rules(rule: str, path: str, params: list[tuple[str, str]]) -> None:
    assert openapi_path(rule) == (path, params)


def _app() -> QuartTrio:
    app = QuartTrio("t", static_folder=None)

    @app.get("/plain")
    async def plain() -> str:
        return "x"

    @app.route("/items/<int:item_id>", methods=["GET", "DELETE"])
    @doc(
        "An item",
        description="longer text",
        tags=["items"],
        path_params={"item_id": "the id"},
        responses={200: ("the item", {"type": "object"}), 404: ("missing", None)},
    )
    async def item(item_id: int) -> dict[str, Any]:
        return {}

    @app.post("/api/whatsapp/things")
    @doc("Make a thing", request={"type": "object", "required": ["name"]}, responses={201: ("made", None)})
    async def make() -> str:
        return ""

    @app.get("/admin")
    async def admin() -> str:
        return ""

    set_auth(admin, "dashboard")

    @app.websocket("/ws")
    async def ws() -> None:
        return None

    return app


def _ops(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items() for method in item}


def test_every_http_rule_appears_with_its_methods() -> None:
    spec = build_spec(_app(), title="t", version="1")
    assert spec["openapi"] == "3.1.0"
    assert _ops(spec) == {
        ("/plain", "get"),
        ("/items/{item_id}", "get"),
        ("/items/{item_id}", "delete"),
        ("/api/whatsapp/things", "post"),
        ("/admin", "get"),
    }
    # HEAD/OPTIONS are implied, websockets are not HTTP operations
    assert "/ws" not in spec["paths"]


def test_undocumented_route_gets_a_generic_description() -> None:
    op = build_spec(_app(), title="t", version="1")["paths"]["/plain"]["get"]
    assert op["summary"] == "GET /plain"
    assert "No description" in op["description"]
    assert op["responses"] == {"default": {"description": "Response"}}
    assert "security" not in op


def test_metadata_becomes_the_operation() -> None:
    spec = build_spec(_app(), title="t", version="1")
    op = spec["paths"]["/items/{item_id}"]["get"]
    assert op["summary"] == "An item"
    assert op["description"] == "longer text"
    assert op["tags"] == ["items"]
    assert op["parameters"] == [
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}, "description": "the id"}
    ]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"type": "object"}
    # error responses without a schema use the shared error shape
    assert op["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert spec["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    # operation ids are unique
    ids = [o["operationId"] for item in spec["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids))


def test_request_body_and_protected_prefix_security() -> None:
    spec = build_spec(_app(), title="t", version="1")
    op = spec["paths"]["/api/whatsapp/things"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"type": "object", "required": ["name"]}
    assert op["security"] == [{BEARER_SCHEME: []}, {API_KEY_SCHEME: []}]
    assert "401" in op["responses"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes[API_KEY_SCHEME] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes[API_KEY_SCHEME]["description"],
    }
    assert schemes[BEARER_SCHEME]["scheme"] == "bearer"


def test_set_auth_marks_dashboard_only_routes() -> None:
    op = build_spec(_app(), title="t", version="1")["paths"]["/admin"]["get"]
    assert op["security"] == [{BEARER_SCHEME: []}]
    assert "401" in op["responses"]


def test_doc_returns_the_same_function_with_metadata() -> None:
    async def view() -> None:
        return None

    decorated = doc("S")(view)
    assert decorated is view
    op = get_operation(view)
    assert op is not None
    assert op.summary == "S"
    assert get_operation(lambda: None) is None
