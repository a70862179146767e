"""OpenAPI 3.1 description of the hub's HTTP routes, built from the app's URL map.

A view function may carry metadata attached with :func:`doc` (summary, request body and response
schemas, parameters). :func:`build_spec` walks ``app.url_map`` so that EVERY registered rule appears in
the document, with or without metadata: a route nobody described still shows up, with a generic
description, which is what makes "every route is in /openapi.json" testable.

This module is NOT a validator: the schemas are documentation. Input checking happens in the views
(``waporta.app`` has the helpers) and errors use the JSON error shape of ``waporta.app``. It serves
nothing either; ``waporta.app`` mounts ``/openapi.json`` and ``/doc``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = [
    "API_KEY_SCHEME",
    "BEARER_SCHEME",
    "ERROR_SCHEMA",
    "Operation",
    "build_spec",
    "doc",
    "get_operation",
    "openapi_path",
    "set_auth",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Name of the HTTP bearer scheme (dashboard tokens) in ``components.securitySchemes``.
BEARER_SCHEME = "bearerAuth"
#: Name of the ``X-API-Key`` header scheme in ``components.securitySchemes``.
API_KEY_SCHEME = "apiKeyAuth"

#: The JSON error body every route answers with on failure (``waporta.app`` renders it).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. `unauthorized`"},
        "message": {"type": "string", "description": "human-readable explanation"},
    },
    "additionalProperties": True,
}

AuthKind = Literal["public", "dashboard", "api"]

_OPERATION_ATTR = "__waporta_openapi__"
_AUTH_ATTR = "__waporta_auth__"
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
    "string": {"type": "string"},
    "default": {"type": "string"},
    "any": {"type": "string"},
}


@dataclass(frozen=True, slots=True)
class Operation:
    """Documentation attached to one view function by :func:`doc`."""

    summary: str
    description: str | None = None
    tags: tuple[str, ...] = ()
    #: JSON schema of the request body (``application/json``), or None for no body.
    request: Mapping[str, Any] | None = None
    #: ``{status: (description, JSON schema or None)}``.
    responses: Mapping[int, tuple[str, Mapping[str, Any] | None]] = field(default_factory=dict)
    #: Extra parameters (query/header), as OpenAPI parameter objects. Path parameters come from the rule.
    parameters: tuple[Mapping[str, Any], ...] = ()
    #: Descriptions (or full schemas) of the path parameters, by name.
    path_params: Mapping[str, str | Mapping[str, Any]] = field(default_factory=dict)
    #: Response content type for the success response when it is not JSON (e.g. ``text/html``).
    content_type: str = "application/json"


def doc(
    summary: str,
    *,
    description: str | None = None,
    tags: Iterable[str] = (),
    request: Mapping[str, Any] | None = None,
    responses: Mapping[int, tuple[str, Mapping[str, Any] | None]] | None = None,
    parameters: Iterable[Mapping[str, Any]] = (),
    path_params: Mapping[str, str | Mapping[str, Any]] | None = None,
    content_type: str = "application/json",
) -> Callable[[F], F]:
    """Attach OpenAPI metadata to a view; works above or below ``@app.route`` (same function object).

    ``responses`` maps a status code to ``(description, schema)``; pass ``None`` as the schema for an
    empty or non-JSON body. Error statuses (4xx/5xx) default to the common error schema.
    """
    op = Operation(
        summary=summary,
        description=description,
        tags=tuple(tags),
        request=request,
        responses=dict(responses or {}),
        parameters=tuple(parameters),
        path_params=dict(path_params or {}),
        content_type=content_type,
    )

    def attach(view: F) -> F:
        setattr(view, _OPERATION_ATTR, op)
        return view

    return attach


def get_operation(view: Callable[..., Any]) -> Operation | None:
    """The metadata :func:`doc` attached to ``view``, if any."""
    op = getattr(view, _OPERATION_ATTR, None)
    return op if isinstance(op, Operation) else None


def set_auth(view: Callable[..., Any], kind: AuthKind) -> None:
    """Record which credentials a view requires, so the spec can state its ``security``."""
    setattr(view, _AUTH_ATTR, kind)


def openapi_path(rule: str) -> tuple[str, list[tuple[str, str]]]:
    """Turn a werkzeug rule (``/a/<int:id>``) into an OpenAPI path (``/a/{id}``) and its parameters.

    Returns the path and a list of ``(name, converter)`` pairs in order of appearance.
    """
    params: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        params.append((match["name"], match["conv"] or "default"))
        return "{" + match["name"] + "}"

    return _RULE_ARG.sub(replace, rule), params


def build_spec(
    app: Any,
    *,
    title: str,
    version: str,
    description: str | None = None,
    protected_prefix: str = "/api/whatsapp",
) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document for every rule in ``app.url_map``.

    ``app`` is a Quart app (typed loosely: only ``url_map`` and ``view_functions`` are read). Routes whose
    path starts with ``protected_prefix`` are documented as requiring a bearer token or an API key.
    """
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if getattr(rule, "websocket", False):
            continue
        view = app.view_functions.get(rule.endpoint)
        path, params = openapi_path(rule.rule)
        methods = sorted(set(rule.methods or ()) - _IGNORED_METHODS)
        item = paths.setdefault(path, {})
        for method in methods:
            item[method.lower()] = _operation(rule, view, method, path, params, protected_prefix)
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "dashboard token from POST /api/auth/login",
                },
                API_KEY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "an API key from POST /api/keys (or the configured default key)",
                },
            },
        },
    }


def _auth_kind(view: Callable[..., Any] | None, path: str, protected_prefix: str) -> AuthKind:
    kind = getattr(view, _AUTH_ATTR, None)
    if kind in ("public", "dashboard", "api"):
        return kind  # type: ignore[no-any-return]
    if path == protected_prefix or path.startswith(protected_prefix + "/"):
        return "api"
    return "public"


def _operation(
    rule: Any,
    view: Callable[..., Any] | None,
    method: str,
    path: str,
    params: list[tuple[str, str]],
    protected_prefix: str,
) -> dict[str, Any]:
    op = get_operation(view) if view is not None else None
    out: dict[str, Any] = {"operationId": f"{rule.endpoint}.{method.lower()}"}
    if op is None:
        out["summary"] = f"{method} {path}"
        out["description"] = "No description was provided for this route."
    else:
        out["summary"] = op.summary
        if op.description:
            out["description"] = op.description
        if op.tags:
            out["tags"] = list(op.tags)

    parameters: list[Mapping[str, Any]] = []
    for name, conv in params:
        described = op.path_params.get(name) if op else None
        schema = dict(_CONVERTER_SCHEMAS.get(conv, {"type": "string"}))
        param: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": schema}
        if isinstance(described, str):
            param["description"] = described
        elif isinstance(described, Mapping):
            param["schema"] = dict(described)
        parameters.append(param)
    if op:
        parameters.extend(op.parameters)
    if parameters:
        out["parameters"] = parameters

    if op is not None and op.request is not None and method in ("POST", "PUT", "PATCH", "DELETE"):
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": dict(op.request)}}}

    responses: dict[str, Any] = {}
    if op is None or not op.responses:
        responses["default"] = {"description": "Response"}
    else:
        for status, (text, body_schema) in sorted(op.responses.items()):
            entry: dict[str, Any] = {"description": text}
            if body_schema is not None:
                entry["content"] = {"application/json": {"schema": dict(body_schema)}}
            elif status >= 400:
                entry["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            elif status < 300 and op.content_type != "application/json":
                entry["content"] = {op.content_type: {}}
            responses[str(status)] = entry

    kind = _auth_kind(view, path, protected_prefix)
    if kind == "api":
        out["security"] = [{BEARER_SCHEME: []}, {API_KEY_SCHEME: []}]
    elif kind == "dashboard":
        out["security"] = [{BEARER_SCHEME: []}]
    if kind != "public":
        responses.setdefault(
            "401",
            {
                "description": "missing, expired or revoked credentials",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    out["responses"] = responses
    return out
