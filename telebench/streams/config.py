"""Stream configuration: where a stream POSTs, what it sends and how it batches.

A stream is flespi's HTTP stream: batches of messages POSTed as a JSON array to ``uri``.
``%ident%`` in the URI makes the stream deliver per device (one batch in flight per
ident, the ident URL-quoted into the URI). ``subscriptions`` pick the messages:

* ``devices:SELECTOR``: messages whose ``device.id`` belongs to a device matching the
  registry selector (``devices:all``, ``devices:ident=35*``, ``devices:1,2,3``);
* ``channel:ID``: messages that arrived on channel ``ID`` (channel-only messages too).

No subscription means every message. A message matching several subscriptions is sent
once. ``filter`` is a message filter (see :mod:`telebench.streams.filters`).

Examples
--------
>>> cfg = StreamConfig("crm", "http://127.0.0.1:8080/in/%ident%", limit_messages=500)
>>> cfg.per_ident, cfg.render_uri("35/7")
(True, 'http://127.0.0.1:8080/in/35%2F7')
>>> cfg.replace(enabled=False).enabled
False
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any, Final

from telebench.errors import ConfigError
from telebench.streams.filters import compile_filter

__all__ = ["DEFAULT_QUEUE_TTL", "IDENT_MASK", "StreamConfig", "parse_header", "parse_subscription"]

#: Placeholder in a stream URI replaced by each message's (URL-quoted) ident.
IDENT_MASK: Final = "%ident%"
#: Default time a message may wait in a stream's queue: one day, in seconds.
DEFAULT_QUEUE_TTL: Final = 86_400
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MAX_LIMIT: Final = 100_000


def parse_subscription(text: str) -> tuple[str, str | int]:
    """``devices:SELECTOR`` or ``channel:ID`` to ``(kind, value)``.

    Examples
    --------
    >>> parse_subscription("devices:ident=35*"), parse_subscription("channel:3")
    (('devices', 'ident=35*'), ('channel', 3))
    """
    kind, colon, value = text.partition(":")
    if colon and kind == "devices" and value.strip():
        return kind, value.strip()
    if colon and kind == "channel" and value.strip().isdigit():
        return kind, int(value)
    raise ConfigError(
        f"subscription {text!r}: expected 'devices:SELECTOR' or 'channel:ID' (ID an integer)"
    )


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` to a header pair, refusing names and values HTTP cannot carry.

    Examples
    --------
    >>> parse_header("Authorization: Bearer abc")
    ('Authorization', 'Bearer abc')
    """
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise ConfigError(f"header {text!r}: expected 'Name: value'")
    _check_header(name, value)
    return name, value


def _check_header(name: object, value: object) -> None:
    if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
        raise ConfigError(f"header name {name!r} is not a valid HTTP token")
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise ConfigError(f"header {name!r}: value must be a string without CR, LF or NUL")


def _check_positive(field: str, value: object, *, integer: bool, top: float) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (integer and not isinstance(value, int)) or not 0 < value <= top:  # type: ignore[operator]
        what = "an integer" if integer else "a number"
        raise ConfigError(f"stream {field} must be {what} in (0, {top}], got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class StreamConfig:
    """One HTTP stream (flespi's ``http`` stream fields; validated on creation).

    ``timeout`` and ``queue_ttl`` are seconds; ``limit_messages`` is the maximum batch
    size; ``headers`` are sent with every request (e.g. ``Authorization``).
    """

    name: str
    uri: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    limit_messages: int = 1000
    timeout: float = 10.0
    filter: str | None = None
    subscriptions: tuple[str, ...] = ()
    queue_ttl: int = DEFAULT_QUEUE_TTL
    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ConfigError(f"stream name {self.name!r}: use 1-64 letters, digits, '_', '.', '-'")
        self._check_uri()
        if not isinstance(self.headers, dict):
            raise ConfigError(f"stream headers must be a dict, got {self.headers!r}")
        for key, value in self.headers.items():
            _check_header(key, value)
        _check_positive("limit_messages", self.limit_messages, integer=True, top=_MAX_LIMIT)
        _check_positive("timeout", self.timeout, integer=False, top=3600)
        _check_positive("queue_ttl", self.queue_ttl, integer=True, top=10 * 365 * 86400)
        if self.filter is not None:
            if not isinstance(self.filter, str):
                raise ConfigError(f"stream filter must be a string, got {self.filter!r}")
            compile_filter(self.filter)
        object.__setattr__(self, "subscriptions", tuple(self.subscriptions))
        for sub in self.subscriptions:
            parse_subscription(sub)
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"stream enabled must be true or false, got {self.enabled!r}")

    def _check_uri(self) -> None:
        uri = self.uri
        if not isinstance(uri, str):
            raise ConfigError(f"stream uri must be a string, got {uri!r}")
        parts = urllib.parse.urlsplit(uri.replace(IDENT_MASK, "x"))
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"stream uri {uri!r}: expected http://HOST[:PORT]/PATH or https://")
        if IDENT_MASK in urllib.parse.urlsplit(uri).netloc or any(c.isspace() for c in uri):
            raise ConfigError(f"stream uri {uri!r}: no spaces; %ident% only in path or query")

    @property
    def per_ident(self) -> bool:
        """Whether the URI holds ``%ident%`` (delivery per device)."""
        return IDENT_MASK in self.uri

    def render_uri(self, ident: str) -> str:
        """The URI for one ident (``%ident%`` replaced, URL-quoted)."""
        return self.uri.replace(IDENT_MASK, urllib.parse.quote(ident, safe=""))

    def replace(self, **fields: Any) -> StreamConfig:
        """A copy with ``fields`` changed (validated again)."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown stream field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the registry stores this)."""
        data = dataclasses.asdict(self)
        data["subscriptions"] = list(self.subscriptions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ConfigError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown stream field(s): {', '.join(sorted(unknown))}")
        fields = dict(data)
        fields["subscriptions"] = tuple(fields.get("subscriptions", ()))
        return cls(**fields)
