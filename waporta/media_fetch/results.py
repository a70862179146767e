"""What :func:`~waporta.media_fetch.fetch_media` gives: :class:`FetchedMedia`, or :class:`MediaInputError`.

Also the three constructors the package's modules raise the error with (``_invalid`` → 400
``invalid_media``, ``_too_large`` → 413 ``media_too_large``, ``_unreachable`` → 422
``media_unreachable``; ``media_host_not_allowed`` is built where the address rules refuse).

This module is NOT where any input is read or checked, and does not build the REST response: the
caller turns :meth:`MediaInputError.as_json` into one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FetchedMedia", "MediaInputError"]


@dataclass(frozen=True, slots=True, repr=False)
class FetchedMedia:
    """The media's bytes, with the mime type and file name found for them."""

    #: The media itself (never empty).
    data: bytes
    #: A lower-case ``type/subtype`` without parameters; ``application/octet-stream`` when unknown.
    mimetype: str
    #: From ``Content-Disposition`` or the URL path's last segment (no folders, no control
    #: characters, at most 255 characters); None for base64 and ``data:`` URLs.
    filename: str | None

    def __repr__(self) -> str:
        return f"FetchedMedia(<{len(self.data)} bytes>, mimetype={self.mimetype!r}, filename={self.filename!r})"


class MediaInputError(Exception):
    """The ``media`` input cannot be used; ``status`` and ``code`` are the REST answer.

    ``str(err)`` is :attr:`message`, which names the field and never holds a URL's query string.
    """

    def __init__(self, status: int, code: str, message: str, field: str = "media", **details: object) -> None:
        #: The HTTP status: 400, 413 or 422.
        self.status = status
        #: ``invalid_media``, ``media_host_not_allowed``, ``media_too_large`` or ``media_unreachable``.
        self.code = code
        #: One human-readable sentence, starting with the field name.
        self.message = message
        #: The request field the media came from.
        self.field = field
        #: Extra JSON-able facts for the error body (``maxBytes`` for ``media_too_large``).
        self.details = dict(details)
        super().__init__(message)

    def as_json(self) -> dict[str, object]:
        """The REST error body: ``{"error": code, "message": ..., "field": ..., **details}``."""
        return {"error": self.code, "message": self.message, "field": self.field, **self.details}


def _invalid(field: str, problem: str) -> MediaInputError:
    return MediaInputError(400, "invalid_media", f"{field}: {problem}", field)


def _too_large(field: str, problem: str, max_bytes: int) -> MediaInputError:
    return MediaInputError(
        413, "media_too_large", f"{field}: {problem}; the limit is {max_bytes} bytes", field, maxBytes=max_bytes
    )


def _unreachable(field: str, problem: str) -> MediaInputError:
    return MediaInputError(422, "media_unreachable", f"{field}: {problem}", field)
