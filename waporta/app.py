"""The hub's HTTP application: a quart-trio app whose routes come from plugins.

``create_app(hub)`` builds the app: JSON error rendering for every failure (``{"error": code,
"message": ...}``, 404/405 and 500 included, never a traceback), the central credential check for
``/api/whatsapp/*``, ``GET /health``, ``GET /openapi.json`` and the offline ``GET /doc`` page; then it
asks the plugins for their routes through the ``register_routes`` hook. The REST API itself is a
built-in plugin (``waporta_plugins.rest_*``).

Also here, for route authors: :class:`ApiError` (raise it to answer with a JSON error),
:func:`dashboard_required` (dashboard-token-only views), :func:`json_object` and :func:`str_field`
(body parsing that answers 400 naming the field), :func:`current_hub`.

This module does NOT serve anything (``waporta.hub.serve`` runs hypercorn) and holds no state of its
own: credentials are checked by ``hub.auth``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart import Response, current_app, g, jsonify, request
from quart.utils import encode_headers
from quart.wrappers.response import DataBody
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import HTTPException, InternalServerError

from waporta import __version__
from waporta.openapi import build_spec, doc, set_auth

if TYPE_CHECKING:
    from waporta.hub import Hub

__all__ = [
    "PROTECTED_PREFIX",
    "ApiError",
    "create_app",
    "current_hub",
    "dashboard_required",
    "json_object",
    "str_field",
]

log = logging.getLogger("waporta.app")

P = ParamSpec("P")
R = TypeVar("R")

#: Every route under this prefix requires a dashboard bearer token or an API key.
PROTECTED_PREFIX = "/api/whatsapp"

_HUB_KEY = "waporta.hub"
#: ASGI ``http_version`` values of HTTP/1 connections.
_HTTP1 = frozenset({"1.0", "1.1"})
_DOC_ASSETS = {"doc.css": "text/css; charset=utf-8", "doc.js": "text/javascript; charset=utf-8"}
#: The /doc page loads nothing from anywhere but this server.
_DOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class ApiError(Exception):
    """An HTTP error answered as ``{"error": code, "message": message, **extra}``.

    ``headers`` are added to the response (e.g. ``Retry-After``). ``extra`` keys must be JSON values
    and must never carry a secret.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.code, "message": self.message, **self.extra}


class _JsonErrorRequest(TrioRequest):
    """Request whose ``get_json()`` answers a malformed body with a 400 that says what is wrong."""

    def on_json_loading_failed(self, error: Exception) -> Any:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {error}")

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except UnicodeDecodeError:
            if silent:
                return None
            raise ApiError(400, "invalid_json", "the request body is not valid UTF-8") from None


class _HTTPConnection(TrioASGIHTTPConnection):
    """quart-trio's ASGI HTTP handling with less per-request machinery, the same behaviour.

    quart-trio runs each request as two new tasks in a new nursery (one reads the ASGI messages, one
    handles the request and sends the answer). Here the handler runs in the connection's own task and
    only the reader is a child, so one task fewer is spawned per request; a client that goes away still
    cancels the handler (the reader cancels the nursery, which the handler runs in). An answer whose
    body is already in memory (every JSON answer) goes out as ONE body message that also ends the
    response, instead of a body message and an empty closing one; over HTTP/1 it is sent without
    quart-trio's ``RESPONSE_TIMEOUT`` cancel scope (a trio deadline costs about 17 µs of CPU here, and
    hypercorn's HTTP/1 connection shields its socket writes from cancellation, so that scope could never
    cut those two messages short). Streamed bodies, and every answer over HTTP/2 (whose flow control may
    hold a write back), are sent under ``RESPONSE_TIMEOUT`` as before.
    """

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.handle_messages, nursery, request, receive)
            response = await self.app.handle_request(request)
            body = getattr(response, "response", None)
            if isinstance(body, DataBody) and self.scope["http_version"] in _HTTP1:
                await self._send_in_memory(send, response, body)
            else:
                await self._send_timed(send, response)
            nursery.cancel_scope.cancel()

    async def _send_timed(self, send: ASGISendCallable, response: Any) -> None:
        """Send ``response`` under its timeout or ``RESPONSE_TIMEOUT`` (as quart-trio does)."""
        timeout = getattr(response, "timeout", Ellipsis)
        if timeout is Ellipsis:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        if timeout is None:
            await self._send_response(send, response)
            return
        with trio.move_on_after(timeout):
            await self._send_response(send, response)

    async def _send_response(self, send: ASGISendCallable, response: Any) -> None:
        body = getattr(response, "response", None)
        if isinstance(body, DataBody):
            await self._send_in_memory(send, response, body)
        else:
            await super()._send_response(send, response)

    @staticmethod
    async def _send_in_memory(send: ASGISendCallable, response: Any, body: DataBody) -> None:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": encode_headers(response.headers)}
        )
        await send({"type": "http.response.body", "body": body.data[body.begin : body.end], "more_body": False})


def current_hub() -> Hub:
    """The hub of the app handling the current request."""
    hub: Hub = current_app.extensions[_HUB_KEY]
    return hub


async def json_object() -> dict[str, Any]:
    """The request body parsed as a JSON object, whatever the Content-Type; else ApiError 400.

    The body is read and parsed once, straight with :func:`json.loads` (not through ``get_json``'s
    content-type checks and caches); a body nested too deeply for the parser is a 400 too.
    """
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; expected a JSON object")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the request body is not valid UTF-8") from None
    try:
        body = json.loads(text)
    except ValueError as error:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_json", f"the request body must be a JSON object, got {_json_type(body)}"
        )
    return body


def str_field(body: Mapping[str, Any], name: str, *, max_length: int = 1024, strip: bool = False) -> str:
    """``body[name]`` as a non-empty string (at most ``max_length`` characters); else ApiError 400."""
    if name not in body or body[name] is None:
        raise ApiError(400, "invalid_request", f"`{name}` is required", field=name)
    value = body[name]
    if not isinstance(value, str):
        raise ApiError(
            400, "invalid_request", f"`{name}` must be a string, got {_json_type(value)}", field=name
        )
    if strip:
        value = value.strip()
    if not value:
        raise ApiError(400, "invalid_request", f"`{name}` must not be empty", field=name)
    if len(value) > max_length:
        raise ApiError(
            400, "invalid_request", f"`{name}` must be at most {max_length} characters", field=name
        )
    return value


def dashboard_required(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate a view that only a logged-in dashboard user (bearer token) may call; API keys do not count."""

    @functools.wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _bearer_token()
        if token is None or not await current_hub().auth.check_token(token):
            raise _unauthorized("this route needs a dashboard token: `Authorization: Bearer <token>`")
        g.waporta_credential = "dashboard"
        return await view(*args, **kwargs)

    set_auth(wrapper, "dashboard")
    return wrapper


def create_app(hub: Hub) -> QuartTrio:
    """Build the HTTP app for ``hub``: core routes, error handling, auth, then the plugins' routes."""
    app = QuartTrio("waporta", static_folder=None)
    app.request_class = _JsonErrorRequest
    app.asgi_http_class = _HTTPConnection
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a failing view is a JSON 500, even under test
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[_HUB_KEY] = hub

    app.register_error_handler(ApiError, _render_api_error)
    app.register_error_handler(InternalServerError, _render_internal_error)
    app.register_error_handler(HTTPException, _render_http_error)
    app.before_request(_check_credentials)

    _register_core_routes(app)
    hub.plugins.register_routes(hub, app)
    return app


# ------------------------------------------------------------------ errors


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _error_code(exc: HTTPException) -> str:
    name = (exc.name or "error").lower()
    return "".join(c if c.isalnum() else "_" for c in name).strip("_") or "error"


async def _render_api_error(exc: ApiError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


async def _render_http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 404:
        message = f"no route matches {request.method} {request.path}"
    elif status == 405:
        valid = exc.valid_methods if hasattr(exc, "valid_methods") else None
        message = f"{request.method} is not allowed on {request.path}"
        if valid:
            message += f"; allowed: {', '.join(sorted(valid))}"
    response = jsonify({"error": _error_code(exc), "message": message})
    response.status_code = status
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


async def _render_internal_error(exc: InternalServerError) -> Response:
    # Quart has already logged the original exception with its traceback (app.log_exception).
    response = jsonify({"error": "internal_error", "message": "the server failed to handle this request"})
    response.status_code = 500
    return response


# ------------------------------------------------------------------ auth


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="waporta"'})


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _check_credentials() -> None:
    """``before_request``: guard everything under :data:`PROTECTED_PREFIX` (plugin routes included)."""
    path = request.path
    if path != PROTECTED_PREFIX and not path.startswith(PROTECTED_PREFIX + "/"):
        return
    auth = current_hub().auth
    token = _bearer_token()
    if token is not None and await auth.check_token(token):
        g.waporta_credential = "dashboard"
        return
    key = request.headers.get("X-API-Key", "").strip()
    if key and await auth.check_api_key(key):
        g.waporta_credential = "api_key"
        return
    raise _unauthorized("send `Authorization: Bearer <dashboard token>` or `X-API-Key: <key>`")


# ------------------------------------------------------------------ core routes


def _register_core_routes(app: QuartTrio) -> None:
    @app.get("/health")
    @doc(
        "Liveness check",
        tags=["Hub"],
        responses={
            200: (
                "the hub is up",
                {
                    "type": "object",
                    "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
                },
            )
        },
    )
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/openapi.json")
    @doc("This OpenAPI document", tags=["Hub"], responses={200: ("OpenAPI 3.1 document", {"type": "object"})})
    async def openapi_json() -> dict[str, Any]:
        return build_spec(
            current_app,
            title="waporta",
            version=__version__,
            description="Self-hosted WhatsApp gateway. Routes under /api/whatsapp need a dashboard "
            "bearer token or an X-API-Key.",
            protected_prefix=PROTECTED_PREFIX,
        )

    @app.get("/doc")
    @doc(
        "Interactive API documentation (HTML, no external assets)",
        tags=["Hub"],
        responses={200: ("the documentation page", None)},
        content_type="text/html",
    )
    async def api_doc() -> Response:
        return _static_response("doc.html", "text/html; charset=utf-8")

    @app.get("/doc/assets/<name>")
    @doc(
        "A static asset of the /doc page",
        tags=["Hub"],
        path_params={"name": {"type": "string", "enum": sorted(_DOC_ASSETS)}},
        responses={200: ("the asset", None), 404: ("no such asset", None)},
        content_type="text/plain",
    )
    async def api_doc_asset(name: str) -> Response:
        if name not in _DOC_ASSETS:
            raise ApiError(404, "not_found", f"no such asset: {name}")
        return _static_response(name, _DOC_ASSETS[name])


def _static_response(name: str, content_type: str) -> Response:
    data = resources.files("waporta").joinpath("static", name).read_bytes()
    response = Response(data, content_type=content_type)
    response.headers["Content-Security-Policy"] = _DOC_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
