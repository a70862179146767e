"""waproto.sandbox.media.iq: recognising media_conn requests and building the answer clients parse."""

from __future__ import annotations

import pytest

from waproto.binary import Node, marshal, unmarshal
from waproto.errors import LocalProtocolError
from waproto.jid import SERVER_JID
from waproto.sandbox.media.iq import (
    DEFAULT_AUTH_TTL,
    DEFAULT_TTL,
    MediaHost,
    is_media_conn_request,
    media_conn_result,
)

REQUEST = Node("iq", {"id": "42.1-3", "xmlns": "w:m", "type": "set", "to": SERVER_JID}, [Node("media_conn")])


def test_the_request_baileys_and_whatsmeow_send_is_recognised() -> None:
    assert is_media_conn_request(REQUEST)
    assert is_media_conn_request(unmarshal(marshal(REQUEST)))


@pytest.mark.parametrize(
    "node",
    [
        Node("iq", {"id": "1", "xmlns": "w:m", "type": "result"}, [Node("media_conn")]),
        Node("iq", {"id": "1", "xmlns": "encrypt", "type": "set"}, [Node("media_conn")]),
        Node("iq", {"id": "1", "xmlns": "w:m", "type": "set"}, [Node("other")]),
        Node("iq", {"id": "1", "xmlns": "w:m", "type": "set"}, b"media_conn"),
        Node("message", {"id": "1", "xmlns": "w:m", "type": "set"}, [Node("media_conn")]),
    ],
)
def test_other_stanzas_are_not_media_conn(node: Node) -> None:
    assert not is_media_conn_request(node)


def test_the_answer_has_the_shape_clients_read() -> None:
    hosts = [MediaHost("127.0.0.1:4433", 1 << 20), MediaHost("localhost:4433", 1 << 20)]
    answer = unmarshal(marshal(media_conn_result(REQUEST, auth="AUTH+/x", hosts=hosts)))
    assert answer.tag == "iq"
    assert answer.attrs == {"from": SERVER_JID, "id": "42.1-3", "type": "result"}
    media_conn = answer.child("media_conn")
    assert media_conn is not None
    assert media_conn.attrs == {
        "auth": "AUTH+/x",
        "ttl": str(DEFAULT_TTL),
        "auth_ttl": str(DEFAULT_AUTH_TTL),
        "max_buckets": "12",
    }
    assert [h.attrs for h in media_conn.children_with("host")] == [
        {"hostname": "127.0.0.1:4433", "maxContentLengthBytes": str(1 << 20)},
        {"hostname": "localhost:4433", "maxContentLengthBytes": str(1 << 20)},
    ]


@pytest.mark.parametrize(
    ("request_node", "auth", "hosts", "ttl"),
    [
        (Node("iq", {"xmlns": "w:m", "type": "set"}, [Node("media_conn")]), "a", [MediaHost("h", 1)], 300),
        (REQUEST, "", [MediaHost("h", 1)], 300),
        (REQUEST, "a", [], 300),
        (REQUEST, "a", [MediaHost("h", 1)], 0),
    ],
)
def test_misuse_is_a_local_error(request_node: Node, auth: str, hosts: list[MediaHost], ttl: int) -> None:
    with pytest.raises(LocalProtocolError):
        media_conn_result(request_node, auth=auth, hosts=hosts, ttl=ttl)
