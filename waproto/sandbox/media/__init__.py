"""waproto.sandbox.media: the sandbox's media server (TLS CA, blob store, HTTPS upload/download, media_conn).

- ``certs``: :func:`ensure_tls_files` makes or reuses a private, name-constrained CA and a server certificate;
- ``store``: :class:`BlobStore`, encrypted files by SHA-256 with size limits, in memory or in a directory;
- ``iq``: the ``media_conn`` IQ answer (pure);
- ``server``: :class:`MediaServer` (auth tokens, the quart-trio app) and :func:`serve_media` (hypercorn, TLS).

Wiring, in short::

    tls = ensure_tls_files(state_dir / "media-tls")
    media = MediaServer(BlobStore(state_dir / "media"))
    endpoint = await nursery.start(serve_media, media, tls)      # endpoint.ca_file, endpoint.hostname
    ...
    if is_media_conn_request(iq):
        reply = media.answer_media_conn(iq)

This package is NOT the media crypto (``waproto.media``); the server only ever holds ciphertext.
"""

from __future__ import annotations

from waproto.sandbox.media.certs import TLSFiles, ensure_tls_files
from waproto.sandbox.media.iq import MediaHost, is_media_conn_request, media_conn_result
from waproto.sandbox.media.server import MediaEndpoint, MediaServer, serve_media
from waproto.sandbox.media.store import BlobStore, StoreRefusal

__all__ = [
    "BlobStore",
    "MediaEndpoint",
    "MediaHost",
    "MediaServer",
    "StoreRefusal",
    "TLSFiles",
    "ensure_tls_files",
    "is_media_conn_request",
    "media_conn_result",
    "serve_media",
]
