"""The errors of a hub session that cannot do what was asked, and the one place transport failures become them.

Each :class:`SessionError` carries what the REST API answers with (``code``, ``status``) and whether the
send-retry policy may try again (``retryable``): :class:`UnknownSession` and :class:`UnknownMessage`
(404), :class:`SessionLoggedOut` and :class:`SessionNotLinked` (409, never retried),
:class:`SessionUnavailable` (retryable; after the retries the REST API answers 502 ``delivery_failed``).
:func:`guarded` awaits a request on a session's client and turns its transport failures (connection gone,
no answer in time, a server error) into :class:`SessionUnavailable`, and an iq refused with a 4xx into
waproto's ``MessageRefused``.

This module is NOT where the errors are decided for a session's status (``Sessions.ready`` in
``waporta.sessions.supervisor``) nor how the REST API renders them (``waporta_plugins.rest_messages``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import ClassVar, TypeVar

from waproto.client import IqError, IqTimeout, NotConnected, TransportClosed
from waproto.errors import MessageRefused

__all__ = [
    "SessionError",
    "SessionLoggedOut",
    "SessionNotLinked",
    "SessionUnavailable",
    "UnknownMessage",
    "UnknownSession",
    "guarded",
]

T = TypeVar("T")


class SessionError(Exception):
    """A session cannot do what was asked. ``code`` and ``status`` are the REST API's error code and HTTP
    status; ``retryable`` tells the send-retry policy whether trying again may help."""

    #: The REST API's ``error`` code.
    code: ClassVar[str] = "session_error"
    #: The HTTP status the REST API answers with.
    status: ClassVar[int] = 409
    #: Whether a later attempt may succeed.
    retryable: ClassVar[bool] = False

    def __init__(self, session_id: str, message: str | None = None) -> None:
        super().__init__(message or session_id)
        #: The session concerned.
        self.session_id = session_id


class UnknownSession(SessionError, LookupError):
    """No session with this id is known to the supervisor (404)."""

    code = "session_not_found"
    status = 404


class UnknownMessage(SessionError, LookupError):
    """The session has received no message with this id (404)."""

    code = "message_not_found"
    status = 404


class SessionLoggedOut(SessionError):
    """The session is logged out (unlinked from the phone, or deleted): it must be linked again (409)."""

    code = "session_logged_out"


class SessionNotLinked(SessionError):
    """The session has not been linked to a phone yet (it shows a QR or waits for a pairing code) (409)."""

    code = "session_not_linked"


class SessionUnavailable(SessionError):
    """The session is linked but cannot send now: connecting, disconnected, the connection dropped during
    the send, or the server did not ack it in time. Retryable (after the retries: 502 ``delivery_failed``).

    ``message_id`` is the id the failed attempt used (None when nothing was sent): a retry that passes it
    again lets WhatsApp drop a duplicate if the first attempt did arrive.
    """

    code = "session_unavailable"
    status = 503
    retryable = True

    def __init__(self, session_id: str, message: str | None = None, *, message_id: str | None = None) -> None:
        super().__init__(session_id, message)
        #: The message id the failed attempt used, if it got that far.
        self.message_id = message_id


async def guarded(session_id: str, message_id: str | None, request: Awaitable[T]) -> T:
    """Await ``request``, turning its transport failures into :class:`SessionUnavailable` (an iq error: a
    4xx into ``MessageRefused``, a 5xx or one without a code into :class:`SessionUnavailable`).

    ``message_id`` is the id a send used (kept on the :class:`SessionUnavailable` for a retry), None for
    other requests.
    """
    try:
        return await request
    except (NotConnected, TransportClosed) as exc:
        raise SessionUnavailable(
            session_id, f"session {session_id}: the connection dropped during the request", message_id=message_id
        ) from exc
    except IqTimeout as exc:
        raise SessionUnavailable(
            session_id, f"session {session_id}: no answer from the server in time", message_id=message_id
        ) from exc
    except IqError as exc:
        if exc.error_code is not None and exc.error_code < 500:
            raise MessageRefused(f"the server refused a request: {exc}", code=exc.code) from exc
        raise SessionUnavailable(
            session_id, f"session {session_id}: the server failed ({exc})", message_id=message_id
        ) from exc
