"""waporta.sessions.errors: each error's REST code, HTTP status and retryability, and :func:`guarded`'s
mapping of transport failures (no sandbox: the requests are plain coroutines)."""

from __future__ import annotations

import pytest

from waporta.sessions.errors import (
    SessionError,
    SessionLoggedOut,
    SessionNotLinked,
    SessionUnavailable,
    UnknownMessage,
    UnknownSession,
    guarded,
)
from waproto.client import IqError, IqTimeout, NotConnected, TransportClosed
from waproto.errors import MessageRefused, NotOnWhatsApp


@pytest.mark.parametrize(
    ("error", "code", "status", "retryable"),
    [
        (UnknownSession, "session_not_found", 404, False),
        (UnknownMessage, "message_not_found", 404, False),
        (SessionLoggedOut, "session_logged_out", 409, False),
        (SessionNotLinked, "session_not_linked", 409, False),
        (SessionUnavailable, "session_unavailable", 503, True),
    ],
)
def test_codes_statuses_and_retryability(error: type[SessionError], code: str, status: int, retryable: bool) -> None:
    raised = error("sales")
    assert isinstance(raised, SessionError)
    assert (raised.code, raised.status, raised.retryable, raised.session_id) == (code, status, retryable, "sales")
    assert str(raised) == "sales"  # the session id when no message is given
    assert str(error("sales", "it is gone")) == "it is gone"
    assert isinstance(raised, LookupError) == (error in (UnknownSession, UnknownMessage))


async def test_guarded_passes_a_result_through() -> None:
    async def answer() -> int:
        return 42

    assert await guarded("sales", "3EB0ID", answer()) == 42


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NotConnected("gone"), SessionUnavailable),
        (TransportClosed("closed"), SessionUnavailable),
        (IqTimeout("slow"), SessionUnavailable),
        (IqError("iq failed: 500", code=500), SessionUnavailable),
        (IqError("iq failed", code=None), SessionUnavailable),
        (IqError("iq failed: 406", code=406), MessageRefused),
        (MessageRefused("refused", code="479"), MessageRefused),
        (NotOnWhatsApp("nobody"), NotOnWhatsApp),
        (ValueError("a bug"), ValueError),
    ],
)
async def test_guarded_maps_transport_failures(failure: Exception, expected: type[Exception]) -> None:
    async def failing() -> None:
        raise failure

    with pytest.raises(expected) as caught:
        await guarded("sales", "3EB0ID", failing())
    if expected is SessionUnavailable:
        assert isinstance(caught.value, SessionUnavailable)
        assert (caught.value.session_id, caught.value.message_id) == ("sales", "3EB0ID")
        assert caught.value.__cause__ is failure
    elif isinstance(failure, IqError):
        assert isinstance(caught.value, MessageRefused)
        assert caught.value.code == "406"
        assert caught.value.__cause__ is failure
    else:
        assert caught.value is failure


async def test_guarded_without_a_message_id() -> None:
    async def failing() -> None:
        raise IqTimeout("slow")

    with pytest.raises(SessionUnavailable) as caught:
        await guarded("sales", None, failing())
    assert caught.value.message_id is None
