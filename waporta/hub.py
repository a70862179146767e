"""The hub's lifecycle: open everything, serve HTTP in one trio nursery, shut down cleanly.

``open_hub(config, plugins)`` is an async context manager that opens the database, makes sure a
dashboard password exists (printing a generated one once, to stderr), runs the plugins' startup hooks,
and on exit runs their shutdown hooks and closes the database, even when cancelled.

``serve(config)`` is what ``waporta serve`` runs: the hub plus hypercorn (``hypercorn.trio.serve``) in
one nursery, until SIGINT/SIGTERM (or an injected ``shutdown_trigger``). Shutdown is graceful:
hypercorn stops accepting, in-flight requests finish (up to ``[server] graceful_timeout``), then the
shutdown hooks run and the database is closed. While it serves, the cyclic garbage collector runs less
often (:func:`serving_gc`).

This module does NOT define routes (``waporta.app`` and the plugins do) nor parse the config file
(``waporta.config``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.logging import Logger as HypercornLogger
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.typing import ResponseSummary, WWWScope

from waporta.app import create_app
from waporta.auth import Auth
from waporta.config import Config, ConfigError
from waporta.plugins import Plugins
from waporta.sessions import Sessions, open_hub_sessions
from waporta.storage import Database, db_path
from waporta.webhooks import WebhookRegistry

__all__ = [
    "GC_YOUNG_THRESHOLD",
    "AccessLog",
    "Hub",
    "check_listen_address",
    "hypercorn_config",
    "open_hub",
    "serve",
    "serving_gc",
]

log = logging.getLogger("waporta.hub")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass
class Hub:
    """Everything a route or a plugin needs: the config, the database and the services built on it."""

    config: Config
    db: Database
    auth: Auth
    webhooks: WebhookRegistry
    plugins: Plugins
    #: The session supervisor (``waporta.sessions``), while the hub is open.
    sessions: Sessions | None = None
    #: The in-process WhatsApp sandbox (``waproto.sandbox.server.Sandbox``) in sandbox mode, else None.
    sandbox: Any = None

    def plugin_config(self, name: str) -> Mapping[str, Any]:
        """The ``[plugins.<name>]`` table of the config (secrets resolved), or an empty mapping."""
        return self.config.plugins.settings.get(name, _EMPTY)


@asynccontextmanager
async def open_hub(
    config: Config, plugins: Plugins, *, clock: Callable[[], float] = time.time
) -> AsyncIterator[Hub]:
    """Open the hub's resources for the duration of the ``async with`` block.

    ``clock`` (POSIX seconds) is handed to the services that need time (token expiry, timestamps).

    On first start without a configured dashboard password, a generated one is printed once to stderr
    (only its hash is stored). The session supervisor (``waporta.sessions.open_hub_sessions``, which
    restores every linked session and, in sandbox mode, starts the sandbox) runs around the hooks:
    ``hub.sessions`` is set before the startup hooks and stopped after the shutdown hooks. Startup hooks
    run before the block, shutdown hooks after it (shielded from cancellation), and the database is
    closed last.
    """
    db = await Database.open(db_path(config.storage.data_dir))
    try:
        auth = Auth(db, config, clock=clock)
        generated = await auth.ensure_dashboard_password()
        if generated is not None:
            _announce_password(config.dashboard.username, generated)
        hub = Hub(config=config, db=db, auth=auth, webhooks=WebhookRegistry(db, clock=clock), plugins=plugins)
        async with open_hub_sessions(hub):
            await plugins.startup(hub)
            try:
                yield hub
            finally:
                with trio.CancelScope(shield=True):
                    await plugins.shutdown(hub)
    finally:
        with trio.CancelScope(shield=True):
            await db.aclose()


#: Allocations (net) between two collections of the garbage collector's youngest generation while the hub
#: serves (:func:`serving_gc`); Python's default is 700.
GC_YOUNG_THRESHOLD = 20_000


@contextlib.contextmanager
def serving_gc() -> Iterator[None]:
    """Within the block, the cyclic garbage collector's youngest generation is collected after
    :data:`GC_YOUNG_THRESHOLD` net allocations instead of Python's 700; the previous thresholds come back
    after it.

    With a hundred requests in flight, each holding a few hundred objects for the time of its send, a
    collection every 700 allocations finds most of them alive and promotes them to the older generations,
    which then need their own, full collections (about 60 ms of CPU each with the hub's objects): about 8 %
    of the gateway's CPU under ``bench/e2e.py``'s REST load. With the larger threshold those objects are
    freed by their reference counts before a collection sees them, and the collector's share falls below
    1 %; garbage in reference cycles waits for at most that many allocations (a few MiB). Nothing changes
    when the collector is disabled or its threshold is already higher.
    """
    previous = gc.get_threshold()
    if 0 < previous[0] < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def hypercorn_config(config: Config) -> HypercornConfig:
    """The hypercorn settings for ``config``: bind address, graceful timeout, access log to logging.

    Each answered request is one INFO line on the ``waporta.access`` logger (see :class:`AccessLog`);
    hypercorn's errors go to ``waporta.server``. Answers carry no ``Server`` header (hypercorn's would
    name it and its version: nothing a client needs, one header fewer to build and validate per answer).
    """
    hc = HypercornConfig()
    host = config.server.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    hc.bind = [f"{host}:{config.server.port}"]
    hc.graceful_timeout = config.server.graceful_timeout
    hc.accesslog = logging.getLogger("waporta.access")
    hc.errorlog = logging.getLogger("waporta.server")
    hc.logger_class = AccessLog
    hc.include_server_header = False
    return hc


async def serve(
    config: Config,
    *,
    plugins: Plugins | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.time,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the hub and its HTTP server until SIGINT/SIGTERM, then shut down gracefully.

    ``plugins`` defaults to ``Plugins.load(config)``. ``shutdown_trigger``, when given, replaces the
    signal handling (tests and embedders await their own event); ``clock`` goes to :func:`open_hub`.
    ``task_status.started()`` receives the bound URLs (with the real port when the config says port 0).
    The garbage collector is tuned for serving (:func:`serving_gc`) until it returns.
    """
    await check_listen_address(config)  # before anything is opened or a password is printed
    quiet_http_client_logs()
    if plugins is None:
        plugins = Plugins.load(config)
    with serving_gc():
        await _serve_hub(config, plugins, shutdown_trigger, clock, task_status)


async def _serve_hub(
    config: Config,
    plugins: Plugins,
    shutdown_trigger: Callable[[], Awaitable[None]] | None,
    clock: Callable[[], float],
    task_status: trio.TaskStatus[list[str]],
) -> None:
    async with open_hub(config, plugins, clock=clock) as hub:
        app = create_app(hub)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            if shutdown_trigger is None:
                await nursery.start(_stop_on_signal, stop)  # handlers are in place before we listen
            else:
                nursery.start_soon(_stop_when, shutdown_trigger, stop)
            binds: list[str] = await nursery.start(
                functools.partial(hypercorn_serve, app, hypercorn_config(config), shutdown_trigger=stop.wait)
            )
            for url in binds:
                log.info("waporta is listening on %s (API docs at %s/doc)", url, url)
            task_status.started(binds)
            # hypercorn returns once ``stop`` is set and in-flight requests have finished; then
            # nothing else in this nursery should outlive it.
            await stop.wait()
            nursery.cancel_scope.deadline = trio.current_time() + config.server.graceful_timeout + 5
        log.info("waporta stopped")


#: Loggers of the HTTP client libraries: at INFO httpx logs every request's full URL, query included, and
#: the hub's requests carry secrets there (WhatsApp's media ``auth`` token, a user's media URL token).
HTTP_CLIENT_LOGGERS = ("httpx", "httpcore")


def quiet_http_client_logs() -> None:
    """Raise the HTTP client libraries' loggers to WARNING, so no request URL (and no secret in one) is
    logged whatever level the application logs at. :func:`serve` calls it."""
    for name in HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


async def check_listen_address(config: Config) -> None:
    """Fail early, with one line, when ``[server] host``/``port`` cannot be listened on here.

    Raises :class:`~waporta.config.ConfigError` (the CLI prints it and exits 2) for a host that does not
    resolve or an address that cannot be bound (in use, not local, privileged port).
    """
    host, port = config.server.host, config.server.port
    # The value may come from the file, the environment or a flag: name the setting, not a file.
    source = "server"
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ConfigError(source, "host", f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                source, "port", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


class AccessLog(HypercornLogger):
    """hypercorn's logger with a cheap access line: ``127.0.0.1:5000 "POST /api/whatsapp/send/text HTTP/1.1" 200 112 1.2ms``.

    hypercorn's own line builds a dict of every request and response header and of all of
    ``os.environ`` for each request, even when the line is then dropped; this one builds nothing unless
    ``waporta.access`` is enabled for INFO, and never logs a query string or a header (no secrets). A
    stream that closed without an answer (hypercorn reports it with no response) gets no line.
    """

    async def access(self, request: WWWScope, response: ResponseSummary | None, request_time: float) -> None:
        """Log one answered request (hypercorn calls this once the response is complete)."""
        logger = self.access_logger
        if response is None or logger is None or not logger.isEnabledFor(logging.INFO):
            return
        client = request.get("client")
        remote = "-" if not client else ":".join(str(part) for part in client)
        method = request["method"] if request["type"] == "http" else "GET"
        length = "-"
        for name, value in response.get("headers", ()):
            if name.lower() == b"content-length":
                length = value.decode("latin-1")
                break
        logger.info(
            '%s "%s %s HTTP/%s" %s %s %.1fms',
            remote,
            method,
            request["path"],
            request.get("http_version", "1.1"),
            response["status"],
            length,
            request_time * 1000,
        )


async def _stop_on_signal(stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            log.info("received %s: shutting down", signal.Signals(signum).name)
            stop.set()
            return


async def _stop_when(trigger: Callable[[], Awaitable[None]], stop: trio.Event) -> None:
    await trigger()
    stop.set()


def _announce_password(username: str, password: str) -> None:
    print(
        "\n"
        "waporta: no dashboard password is configured, so one was generated.\n"
        "         It is shown only this once; only its hash is stored.\n"
        f"         username: {username}\n"
        f"         password: {password}\n"
        "         (set [dashboard] password in waporta.toml or DASHBOARD_PASSWORD to choose your own)\n",
        file=sys.stderr,
        flush=True,
    )
