"""The plugin contract: every hook the hub calls, with its arguments, timing and return value.

A plugin is any module or object with functions marked ``@waporta.hookimpl`` whose names match the
specs below. Implementations may accept any subset of a spec's arguments, by name, so argument names
are public API: specs can gain arguments, never rename them.

Sync or async: unless a hook says otherwise, an implementation may be ``def`` or ``async def``. The hub
(:class:`waporta.plugins.Plugins`) awaits what is awaitable, runs each implementation under its own
timeout (``[plugins] hook_timeout``), and logs an implementation's exception instead of raising it.
Hooks listed in :data:`SYNC_ONLY` (``firstresult`` policy hooks and route registration) must be plain
``def``: an ``async def`` implementation of one is refused when the plugin is loaded.

Implementations are called newest-registered first (pluggy's LIFO order): plugins named in
``waporta.toml`` run before entry-point plugins, which run before the built-ins. The full
documentation, with examples, is ``docs/plugin_hooks.md``. This module holds declarations only: the
calling code is ``waporta/plugins.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.hub import Hub
    from waporta.messages import InboundMessage

__all__ = ["PROJECT", "SYNC_ONLY", "hookspec"]

#: The pluggy project name shared by specs and implementations.
PROJECT = "waporta"

#: Marker for the specs below.
hookspec = pluggy.HookspecMarker(PROJECT)

#: Hooks whose implementations must be synchronous (refused at load when ``async def``).
SYNC_ONLY: frozenset[str] = frozenset({"register_routes", "send_retry_policy"})


# ---------------------------------------------------------------- lifecycle


@hookspec
def waporta_startup(hub: Hub) -> None:
    """The hub has started: storage is open and auth is ready; the HTTP server is about to listen.

    Open long-lived resources here (HTTP clients, background state); keep them on your plugin object
    or in a module-level registry keyed by ``hub``.

    :param hub: the running :class:`waporta.hub.Hub`.

    Sync or async. Called once per start, newest plugin first; an exception or a timeout is logged
    and start-up continues.
    """


@hookspec
def waporta_shutdown(hub: Hub) -> None:
    """The hub is stopping: the HTTP server has stopped accepting requests; storage is still open.

    Close what :func:`waporta_startup` opened.

    :param hub: the :class:`waporta.hub.Hub` being stopped.

    Sync or async. Called once, newest plugin first; an exception or a timeout is logged and
    shutdown continues.
    """


# ---------------------------------------------------------------- registration


@hookspec
def register_routes(hub: Hub, app: QuartTrio) -> None:
    """Add HTTP routes to the app, e.g. ``app.add_url_rule(...)`` or ``app.register_blueprint(...)``.

    Routes under ``/api/whatsapp`` are protected by the hub's credential check (bearer token or API
    key) before the view runs. Use :class:`waporta.app.ApiError` to answer with a JSON error.

    :param hub: the :class:`waporta.hub.Hub` the app serves.
    :param app: the ``quart_trio.QuartTrio`` application being built.

    Sync only (``async def`` is refused at load). Called once while the app is built, before the
    server listens. An exception here stops start-up with a :class:`waporta.plugins.PluginError`
    naming the plugin: a half-registered API is worse than none.
    """


# ---------------------------------------------------------------- events


@hookspec
def message_received(hub: Hub, session_id: str, message: InboundMessage) -> None:
    """A session received a message, and it is stored.

    :param hub: the :class:`waporta.hub.Hub`.
    :param session_id: the session that received it (see ``waporta.webhooks.SESSION_ID_RE``).
    :param message: a :class:`waporta.messages.InboundMessage` (immutable): ``session_id``,
        ``message_id``, ``chat``, ``sender`` (user JID; the phone number when WhatsApp gave both it and
        the LID), ``sender_alt``,
        ``sender_device``, ``recipient``, ``timestamp`` (POSIX seconds), ``from_me``, ``is_group``,
        ``push_name``, ``kind`` (text, image, document, video, audio, location, contact, reaction,
        sticker, unknown), ``content`` (a JSON summary) and ``raw`` (Baileys' ``WAMessage`` shape).
        ``message.as_payload()`` is exactly the webhook payload: ``{event: "message.received",
        sessionId, messageId, sender, recipient, timestamp, messageType, content, raw}``, secret-named
        keys redacted.

    When: after the message was committed to the database (the delivery receipt to WhatsApp follows the
    commit and does not wait for plugins). Messages of one session come one at a time, in the order they
    arrived; a message WhatsApp delivers again is not passed on twice, but one that was stored and not
    yet passed on when the hub stopped is passed on after the restart (de-duplicate by ``messageId`` if
    that matters). Also called for messages our own phone sent (``from_me``).

    Sync or async. Called once per message, newest plugin first, each implementation under
    ``[plugins] hook_timeout``; exceptions are logged, never fatal to the session.
    """


@hookspec
def session_status_changed(hub: Hub, session_id: str, status: str) -> None:
    """A session's connection status changed (for example ``"connecting"`` → ``"connected"``).

    :param hub: the :class:`waporta.hub.Hub`.
    :param session_id: the session whose status changed.
    :param status: the new status name.

    Sync or async. Called after the change is recorded; exceptions and timeouts are logged.
    """


@hookspec
def delivery_failed(hub: Hub, failure: Any) -> None:
    """An outbound delivery (a webhook call or a message send) failed for good: retries are over.

    Use it to notify someone (e-mail, a chat message, a monitoring system).

    :param hub: the :class:`waporta.hub.Hub`.
    :param failure: a description of what failed: its kind, its target, the number of attempts and
        the last error.

    Sync or async. Exceptions and timeouts are logged.
    """


# ---------------------------------------------------------------- policy


@hookspec(firstresult=True)
def send_retry_policy(hub: Hub, session_id: str, attempt: int, error: BaseException) -> float | None:
    """Decide whether and when to retry a failed send.

    :param hub: the :class:`waporta.hub.Hub`.
    :param session_id: the session whose send failed.
    :param attempt: how many attempts have failed so far (1 after the first failure).
    :param error: the error of the last attempt.
    :return: seconds to wait before the next attempt (``0`` retries at once), ``math.inf`` to give
        up now, or ``None`` for no opinion (the next plugin decides).

    Sync only, ``firstresult``: the first implementation (newest plugin first) returning a value
    other than None decides. When none answers, or the answer is not a number >= 0, the send is
    given up. An exception is logged and counts as no opinion.
    """
