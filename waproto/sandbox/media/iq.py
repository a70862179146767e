"""The ``media_conn`` IQ in the server role: recognising the request and building the answer.

A client asks ``<iq xmlns="w:m" type="set" to="s.whatsapp.net" id=…><media_conn/></iq>`` before an upload
(PROTOCOL.md §7.1) and is answered::

    <iq from="s.whatsapp.net" id=… type="result">
      <media_conn auth=<token> ttl=<s> auth_ttl=<s> max_buckets=<n>>
        <host hostname="127.0.0.1:43211" maxContentLengthBytes=<n>/>
      </media_conn>
    </iq>

Clients then upload to ``https://<hostname>/mms/<type>/<token>?auth=<auth>&token=<token>``; a hostname may
carry a port (Baileys and whatsmeow paste it into the URL as is). Baileys caches the answer for ``ttl``
seconds and asks again (``forceGet``) when an upload is refused.

This module is pure: it draws no auth tokens and knows no addresses (the media server supplies both, see
``MediaServer.answer_media_conn``). It is NOT the dispatcher that routes IQs to handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from waproto.binary import Node
from waproto.errors import LocalProtocolError
from waproto.jid import SERVER_JID

__all__ = [
    "DEFAULT_AUTH_TTL",
    "DEFAULT_MAX_BUCKETS",
    "DEFAULT_TTL",
    "MediaHost",
    "is_media_conn_request",
    "media_conn_result",
]

#: Seconds a client may cache the media_conn answer (what the real server tends to say).
DEFAULT_TTL = 300
#: Seconds the auth token stays valid.
DEFAULT_AUTH_TTL = 21600
#: ``max_buckets`` as the real server sends it (clients ignore it).
DEFAULT_MAX_BUCKETS = 12


@dataclass(frozen=True, slots=True)
class MediaHost:
    """One upload/download host: ``hostname`` as clients paste it into URLs (``host`` or ``host:port``)."""

    hostname: str
    #: Largest upload the host accepts, in bytes (announced as ``maxContentLengthBytes``).
    max_content_length: int


def is_media_conn_request(node: Node) -> bool:
    """True for ``<iq xmlns="w:m" type="set"><media_conn/></iq>`` (whatever else its attributes say)."""
    return (
        node.tag == "iq"
        and node.attrs.get("xmlns") == "w:m"
        and node.attrs.get("type") in ("set", "get")
        and node.child("media_conn") is not None
    )


def media_conn_result(
    request: Node,
    *,
    auth: str,
    hosts: Sequence[MediaHost],
    ttl: int = DEFAULT_TTL,
    auth_ttl: int = DEFAULT_AUTH_TTL,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
) -> Node:
    """The ``<iq type="result">`` answering ``request`` (which must carry an ``id``) with ``auth`` and ``hosts``."""
    iq_id = request.attrs.get("id")
    if not isinstance(iq_id, str) or not iq_id:
        raise LocalProtocolError("the media_conn request has no id to answer")
    if not auth or not hosts:
        raise LocalProtocolError("media_conn needs an auth token and at least one host")
    if ttl < 1 or auth_ttl < 1:
        raise LocalProtocolError("media_conn ttl and auth_ttl must be positive")
    host_nodes = [
        Node("host", {"hostname": host.hostname, "maxContentLengthBytes": str(host.max_content_length)})
        for host in hosts
    ]
    media_conn = Node(
        "media_conn",
        {"auth": auth, "ttl": str(ttl), "auth_ttl": str(auth_ttl), "max_buckets": str(max_buckets)},
        host_nodes,
    )
    return Node("iq", {"from": SERVER_JID, "id": iq_id, "type": "result"}, [media_conn])
