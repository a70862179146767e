"""The REST API's ``media`` input: an http(s) URL (fetched), a ``data:`` URL, or plain base64 → bytes.

:func:`fetch_media` turns the ``media`` field of ``POST /send/image`` and ``/send/document`` into a
:class:`FetchedMedia` (bytes, mime type, file name) or raises :class:`MediaInputError`, which carries the
HTTP status and JSON error code the REST layer answers with:

====== ========================== ===================================================================
status code                       when
====== ========================== ===================================================================
400    ``invalid_media``          not an http(s) URL, a ``data:`` URL or base64; or the media is empty
400    ``media_host_not_allowed`` the URL's host is or resolves to a non-public address (loopback,
                                  private, link-local, CGNAT, multicast, reserved, unspecified, or an
                                  IPv6 address embedding one) that ``[media] allow_networks`` does not
                                  cover — at the first hop or after any redirect
413    ``media_too_large``        more than ``[media] max_bytes`` (Content-Length, bytes received, or
                                  the base64 text's length before decoding)
422    ``media_unreachable``      the host does not resolve, the connection or TLS fails, a timeout,
                                  HTTP status >= 400, a redirect without a usable Location, a redirect
                                  to a scheme other than http/https, more than ``max_redirects``
====== ========================== ===================================================================

**No secrets in errors or logs.** A URL is only ever shown as ``scheme://host[:port]/path``: no query
string, fragment or user info. Everything logs to the ``waporta.media_fetch`` logger.

The package's modules, one concept each:

- :mod:`~waporta.media_fetch.results` — :class:`FetchedMedia` and :class:`MediaInputError`;
- :mod:`~waporta.media_fetch.inline` — ``data:`` URLs, base64 and :func:`sniff_mimetype` (no network);
- :mod:`~waporta.media_fetch.addresses` — the address rules (:func:`address_refusal`), the resolver, and
  the pinned-address network backend that makes DNS rebinding useless (read its docstring);
- :mod:`~waporta.media_fetch.fetch` — :func:`fetch_media`, and the httpx fetch with its redirects, size
  and time limits.

This package is NOT the REST layer (the JSON error body is built by the caller, see
:meth:`MediaInputError.as_json`) and does not encrypt or upload anything (``waproto.client.media`` does).
Only the names below are its API; the modules' other names are the package's own business.
"""

from __future__ import annotations

from waporta.media_fetch.addresses import Address, Resolver, address_refusal, system_resolver
from waporta.media_fetch.fetch import fetch_media, safe_url
from waporta.media_fetch.inline import sniff_mimetype
from waporta.media_fetch.results import FetchedMedia, MediaInputError

__all__ = [
    "Address",
    "FetchedMedia",
    "MediaInputError",
    "Resolver",
    "address_refusal",
    "fetch_media",
    "safe_url",
    "sniff_mimetype",
    "system_resolver",
]
