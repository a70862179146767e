"""The hub's sessions: one WhatsApp client per hub session, supervised, with messaging on top.

::

    async with open_sessions(db, settings, on_status=..., on_message=...) as sessions:
        session = await sessions.create("sales-bot")      # status "connecting", then "qr"
        sent = await sessions.send("sales-bot", JID("15550002222", "s.whatsapp.net"), Message(conversation="hi"))
        found = await sessions.check("sales-bot", "15550002222")        # CheckResult(exists, jid, lid)
        await sessions.delete("sales-bot")               # logout, then every WhatsApp row wiped

The package, by concept (every public name is re-exported here, import from ``waporta.sessions``):

- ``waporta.sessions.supervisor``: :class:`Session`, :class:`Sessions`, :func:`open_sessions`,
  :data:`STATUSES` (life of a session: link, restore, log out, delete; send, check, upload, download);
- ``waporta.sessions.errors``: :class:`SessionError` and its subclasses (the REST API's codes and
  statuses, retryable or not), and the mapping of transport failures onto them;
- ``waporta.sessions.stores``: :class:`SessionStore` and :class:`SessionSignalStore` (waproto's client
  stores on the hub's SQLite; a send's session records pending until its stanza goes out);
- ``waporta.sessions.transport``: the session's transport, which commits those records before it sends;
- ``waporta.sessions.hub``: :func:`open_hub_sessions` and :func:`client_settings` (the hub's config and
  plugins, sandbox mode).

This package is NOT the REST API (``waporta_plugins.rest_sessions``, ``rest_messages``), the protocol
client (``waproto.client``) or the inbound message's shape and queue (``waporta.messages``).
"""

from __future__ import annotations

from waporta.sessions.errors import (
    SessionError,
    SessionLoggedOut,
    SessionNotLinked,
    SessionUnavailable,
    UnknownMessage,
    UnknownSession,
)
from waporta.sessions.hub import client_settings, open_hub_sessions
from waporta.sessions.stores import SessionSignalStore, SessionStore
from waporta.sessions.supervisor import STATUSES, Session, Sessions, open_sessions

__all__ = [
    "STATUSES",
    "Session",
    "SessionError",
    "SessionLoggedOut",
    "SessionNotLinked",
    "SessionSignalStore",
    "SessionStore",
    "SessionUnavailable",
    "Sessions",
    "UnknownMessage",
    "UnknownSession",
    "client_settings",
    "open_hub_sessions",
    "open_sessions",
]
