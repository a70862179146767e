"""The hub's configuration: ``waporta.toml`` loaded into typed, frozen dataclasses.

Where values come from, lowest to highest precedence:

1. the built-in defaults (the dataclass defaults below, mirrored key for key by the annotated
   ``waporta.toml`` at the repository root);
2. the TOML file (``--config PATH``, else ``./waporta.toml`` when it exists);
3. the environment: ``PORT``, ``HOST``, ``WAPORTA_DATA_DIR``, ``DASHBOARD_USERNAME``,
   ``DASHBOARD_PASSWORD``, ``DEFAULT_API_KEY`` (the original gateway's names keep working);
4. command-line flags (``waporta serve --host/--port``), applied by the CLI with
   :func:`dataclasses.replace`.

Secrets (``[dashboard] password``, ``[api] default_key`` and any value under ``[plugins.<name>]``)
may be written ``{ env = "VAR" }`` and are then read from the environment. Secrets never appear in a
``repr()``, in :meth:`Config.redacted` or in a :class:`ConfigError` message.

Every problem (unreadable file, bad TOML, unknown key, wrong type, out-of-range value, missing
environment variable, a ``[whatsapp] ca_file`` that is missing or not a PEM certificate) is a
:class:`ConfigError` whose message is one line naming the file, the key and what was expected. This
module is NOT where the values are used: it does no I/O beyond reading the one file and loading
``ca_file`` once to check it, and it creates no directories.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "ENV_OVERRIDES",
    "ApiConfig",
    "Config",
    "ConfigError",
    "DashboardConfig",
    "MediaConfig",
    "Network",
    "PluginsConfig",
    "ServerConfig",
    "StorageConfig",
    "WhatsAppConfig",
    "default_config",
    "load_config",
]

#: Environment variables that override a config key, and the dotted key each one sets.
ENV_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {
        "PORT": "server.port",
        "HOST": "server.host",
        "WAPORTA_DATA_DIR": "storage.data_dir",
        "DASHBOARD_USERNAME": "dashboard.username",
        "DASHBOARD_PASSWORD": "dashboard.password",
        "DEFAULT_API_KEY": "api.default_key",
    }
)

_REDACTED = "<redacted>"

#: An entry of ``[media] allow_networks``.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """The configuration cannot be used. ``str(err)`` is one line: ``<file>: <key>: <problem>``.

    The CLI prints that line to stderr and exits with status 2, without a traceback.
    """

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        #: Where the bad value came from: a file path, or ``environment``.
        self.source = source
        #: The dotted key (``server.port``), or None for a file-level problem.
        self.key = key
        #: What was expected and what was found.
        self.problem = problem
        parts = [source] if key is None else [source, key]
        super().__init__(": ".join([*parts, problem]).replace("\n", " "))


# ---------------------------------------------------------------- the schema


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``: where the HTTP app listens."""

    #: Interface to bind. ``127.0.0.1`` keeps the gateway local; the Docker image sets ``0.0.0.0``.
    host: str = "127.0.0.1"
    #: TCP port (0 picks a free one).
    port: int = 3000
    #: Seconds that in-flight requests get to finish after SIGINT/SIGTERM.
    graceful_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``[storage]``: where durable state lives."""

    #: Data directory holding ``waporta.db``; a relative path is relative to the working directory.
    data_dir: Path = Path("data")


@dataclass(frozen=True, slots=True, repr=False)
class DashboardConfig:
    """``[dashboard]``: the dashboard login (which also manages API keys)."""

    #: Login name.
    username: str = "admin"
    #: Plaintext password from the file or ``DASHBOARD_PASSWORD``; None means the first start
    #: generates one, stores only its hash and prints it once.
    password: str | None = None
    #: Lifetime of a dashboard bearer token, in seconds.
    token_ttl: float = 86400.0
    #: Failed logins from one client within ``login_window`` before further attempts get 429.
    login_max_failures: int = 5
    #: Length of the login-throttle window, in seconds.
    login_window: float = 300.0

    def __repr__(self) -> str:
        password = None if self.password is None else _REDACTED
        return (
            f"DashboardConfig(username={self.username!r}, password={password!s}, "
            f"token_ttl={self.token_ttl!r}, login_max_failures={self.login_max_failures!r}, "
            f"login_window={self.login_window!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class ApiConfig:
    """``[api]``: the REST API."""

    #: An API key accepted without being created (``DEFAULT_API_KEY``); None disables it.
    default_key: str | None = None

    def __repr__(self) -> str:
        key = None if self.default_key is None else _REDACTED
        return f"ApiConfig(default_key={key!s})"


@dataclass(frozen=True, slots=True, repr=False)
class PluginsConfig:
    """``[plugins]`` and the ``[plugins.<name>]`` tables."""

    #: Extra plugins to load after the built-ins and entry points: module names or ``.py`` paths
    #: (a relative path is relative to the config file's folder).
    modules: tuple[str, ...] = ()
    #: Plugin names not to load (built-in module names, entry-point names, or module names).
    disabled: tuple[str, ...] = ()
    #: Seconds each async hook implementation may run before it is cancelled.
    hook_timeout: float = 10.0
    #: The ``[plugins.<name>]`` tables, read-only, with ``{ env = "VAR" }`` secrets resolved.
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: Dotted paths inside ``settings`` (``name.key``) whose values came from the environment.
    secret_paths: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return (
            f"PluginsConfig(modules={self.modules!r}, disabled={self.disabled!r}, "
            f"hook_timeout={self.hook_timeout!r}, settings={self.redacted_settings()!r})"
        )

    def redacted_settings(self) -> dict[str, Any]:
        """The plugin settings as plain dicts, secrets redacted.

        Redacted: every value that came from ``{ env = "VAR" }``, and every string whose key ends in
        ``password``, ``secret``, ``token`` or ``key``.
        """
        return {name: _redact(table, name, self.secret_paths) for name, table in self.settings.items()}


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """``[whatsapp]``: which WhatsApp server the sessions connect to."""

    #: Start the WhatsApp sandbox in-process and point every session at it (``waporta serve --sandbox``);
    #: its control API is then served at ``/sandbox`` on the gateway's port.
    sandbox: bool = False
    #: The websocket URL sessions connect to (ignored when ``sandbox`` is true).
    websocket_url: str = "wss://web.whatsapp.com/ws/chat"
    #: The server's Noise root public key as 64 hex digits; None means WhatsApp's production root
    #: (ignored when ``sandbox`` is true).
    noise_root_public_key: str | None = None
    #: A PEM file of extra CA certificates trusted (besides the system's) for WhatsApp's media hosts
    #: and a ``wss://`` websocket_url, e.g. a standalone sandbox's ``media-tls/ca.pem``. A relative
    #: path is relative to the config file's folder. Checked (exists, parses) when loading.
    ca_file: Path | None = None
    #: How 1:1 chats are addressed: ``"lid"`` (WhatsApp's current behaviour) or ``"pn"`` (phone numbers).
    addressing: Literal["lid", "pn"] = "lid"

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the system's CAs plus :attr:`ca_file` when it is set.

        :raises OSError: or :class:`ssl.SSLError` if ``ca_file`` vanished or changed since loading.
        """
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=self.ca_file)
        return context


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """``[media]``: how the REST API's ``media`` field (a URL, a ``data:`` URL or base64) is taken in.

    Used by :func:`waporta.media_fetch.fetch_media`.
    """

    #: The largest media accepted, in bytes (64 MiB), whether fetched or sent inline as base64.
    max_bytes: int = 64 * 1024 * 1024
    #: Seconds a URL fetch may take in all (every redirect included); also the connect and read timeout.
    fetch_timeout: float = 30.0
    #: How many redirects a URL fetch follows (0: none).
    max_redirects: int = 5
    #: Networks a media URL may point into although they are not public (loopback, private, link-local,
    #: CGNAT, ...): by default none, so only public addresses are fetched.
    allow_networks: tuple[Network, ...] = ()


#: Plugin setting names that are treated as secrets even when written in plaintext.
_SECRET_NAME = re.compile(r"(password|passwd|secret|token|key)$", re.IGNORECASE)


def _redact(value: Any, path: str, secrets: frozenset[str]) -> Any:
    if path in secrets or (isinstance(value, str) and _SECRET_NAME.search(path)):
        return _REDACTED
    if isinstance(value, Mapping):
        return {k: _redact(v, f"{path}.{k}", secrets) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. Build it with :func:`load_config` or :func:`default_config`."""

    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    #: The file this was loaded from, or None for built-in defaults.
    source: Path | None = None

    def redacted(self) -> dict[str, Any]:
        """A JSON-able dict of every value, with secrets replaced by ``"<redacted>"``."""
        out: dict[str, Any] = {}
        for section in (self.server, self.storage, self.dashboard, self.api):
            name = _SECTION_NAMES[type(section)]
            table: dict[str, Any] = {}
            for f in fields(section):
                value = getattr(section, f.name)
                if f.name in _SECRET_KEYS.get(name, ()) and value is not None:
                    value = _REDACTED
                elif isinstance(value, Path):
                    value = str(value)
                table[f.name] = value
            out[name] = table
        p = self.plugins
        out["plugins"] = {
            "modules": list(p.modules),
            "disabled": list(p.disabled),
            "hook_timeout": p.hook_timeout,
            **p.redacted_settings(),
        }
        w = self.whatsapp
        out["whatsapp"] = {
            "sandbox": w.sandbox,
            "websocket_url": w.websocket_url,
            "noise_root_public_key": w.noise_root_public_key,
            "ca_file": None if w.ca_file is None else str(w.ca_file),
            "addressing": w.addressing,
        }
        m = self.media
        out["media"] = {
            "max_bytes": m.max_bytes,
            "fetch_timeout": m.fetch_timeout,
            "max_redirects": m.max_redirects,
            "allow_networks": [str(network) for network in m.allow_networks],
        }
        return out


_SECTION_NAMES: dict[type, str] = {
    ServerConfig: "server",
    StorageConfig: "storage",
    DashboardConfig: "dashboard",
    ApiConfig: "api",
    PluginsConfig: "plugins",
    WhatsAppConfig: "whatsapp",
    MediaConfig: "media",
}
#: Keys whose value may be ``{ env = "VAR" }`` and is never shown.
_SECRET_KEYS: dict[str, tuple[str, ...]] = {"dashboard": ("password",), "api": ("default_key",)}


def default_config() -> Config:
    """The built-in defaults: no file, no environment."""
    return Config()


# ---------------------------------------------------------------- loading


def load_config(path: Path | str | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration.

    :param path: the TOML file. None means ``./waporta.toml`` if it exists, else the built-in
        defaults. A path that is given but unreadable is an error.
    :param env: the environment for overrides and ``{ env = "VAR" }`` secrets; None means
        :data:`os.environ`.
    :raises ConfigError: for any problem, with a one-line message.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is None:
        candidate = Path("waporta.toml")
        source = candidate if candidate.is_file() else None
    else:
        source = Path(path)
    data: dict[str, Any] = {} if source is None else _read_toml(source)
    loader = _Loader(str(source) if source is not None else "defaults", environ, base=source)
    config = loader.build(data, source)
    return _apply_env(config, environ)


def _read_toml(source: Path) -> dict[str, Any]:
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(source), None, "expected a TOML file, got no such file") from None
    except IsADirectoryError:
        raise ConfigError(str(source), None, "expected a TOML file, got a directory") from None
    except OSError as exc:
        raise ConfigError(str(source), None, f"expected a readable file, got {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(source), None, "expected UTF-8 TOML, got undecodable bytes") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(source), None, f"expected valid TOML, got {exc}") from None


def _describe(value: Any, *, secret: bool = False) -> str:
    """Name a value's type (and, unless secret, the value) for an error message."""
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    if secret or isinstance(value, list | dict):
        return kind
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} {shown}"


class _Loader:
    """Validates one parsed TOML document; knows the file name for error messages."""

    def __init__(self, source: str, env: Mapping[str, str], *, base: Path | None = None) -> None:
        self.source = source
        self.env = env
        #: Relative file paths in the config (``ca_file``) are relative to this file's folder.
        self.folder = Path(".") if base is None else base.parent

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, key, problem)

    def build(self, data: dict[str, Any], source: Path | None) -> Config:
        sections = {"server", "storage", "dashboard", "api", "plugins", "whatsapp", "media"}
        for key, value in data.items():
            if key not in sections:
                raise self.error(key, f"expected one of the sections {_oneof(sections)}, got an unknown key")
            if not isinstance(value, dict):
                raise self.error(key, f"expected a table, got {_describe(value)}")
        server = data.get("server", {})
        storage = data.get("storage", {})
        dashboard = data.get("dashboard", {})
        api = data.get("api", {})
        self.known("server", server, ServerConfig)
        self.known("storage", storage, StorageConfig)
        self.known("dashboard", dashboard, DashboardConfig)
        self.known("api", api, ApiConfig)
        d, a = DashboardConfig(), ApiConfig()
        s = ServerConfig()
        return Config(
            server=ServerConfig(
                host=self.text("server.host", server.get("host", s.host)),
                port=self.port("server.port", server.get("port", s.port)),
                graceful_timeout=self.seconds(
                    "server.graceful_timeout", server.get("graceful_timeout", s.graceful_timeout), zero=True
                ),
            ),
            storage=StorageConfig(data_dir=self.path("storage.data_dir", storage.get("data_dir"))),
            dashboard=DashboardConfig(
                username=self.text("dashboard.username", dashboard.get("username", d.username)),
                password=self.secret("dashboard.password", dashboard.get("password")),
                token_ttl=self.seconds("dashboard.token_ttl", dashboard.get("token_ttl", d.token_ttl)),
                login_max_failures=self.count(
                    "dashboard.login_max_failures", dashboard.get("login_max_failures", d.login_max_failures)
                ),
                login_window=self.seconds(
                    "dashboard.login_window", dashboard.get("login_window", d.login_window)
                ),
            ),
            api=ApiConfig(default_key=self.secret("api.default_key", api.get("default_key", a.default_key))),
            plugins=self.plugins(data.get("plugins", {})),
            whatsapp=self.whatsapp(data.get("whatsapp", {})),
            media=self.media(data.get("media", {})),
            source=source,
        )

    def known(self, section: str, table: dict[str, Any], schema: type) -> None:
        names = {f.name for f in fields(schema)}
        for key in table:
            if key not in names:
                raise self.error(f"{section}.{key}", f"expected one of {_oneof(names)}, got an unknown key")

    # -- scalar validators; each names the key and never shows a secret

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {_describe(value)}")
        return value

    def port(self, key: str, value: Any) -> int:
        if type(value) is not int or not 0 <= value <= 65535:
            raise self.error(key, f"expected an integer port 0-65535, got {_describe(value)}")
        return value

    def count(self, key: str, value: Any) -> int:
        if type(value) is not int or value < 1:
            raise self.error(key, f"expected a positive integer, got {_describe(value)}")
        return value

    def seconds(self, key: str, value: Any, *, zero: bool = False) -> float:
        ok = type(value) in (int, float) and math.isfinite(value) and (value >= 0 if zero else value > 0)
        if not ok:
            want = "a number of seconds >= 0" if zero else "a number of seconds > 0"
            raise self.error(key, f"expected {want}, got {_describe(value)}")
        return float(value)

    def path(self, key: str, value: Any) -> Path:
        if value is None:
            return StorageConfig().data_dir
        return Path(self.text(key, value))

    def secret(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, dict):
            resolved = self.env_ref(key, value)
            if resolved == "":
                raise self.error(key, f"expected environment variable {value['env']} to be non-empty, got an empty string")
            if resolved is not None:
                return resolved
        if not isinstance(value, str) or not value:
            raise self.error(key, f'expected a non-empty string or {{ env = "VAR" }}, got {_describe(value, secret=True)}')
        return value

    def env_ref(self, key: str, value: dict[str, Any]) -> str | None:
        """Resolve ``{ env = "VAR" }``; None when ``value`` is not of that shape."""
        if set(value) != {"env"}:
            return None
        var = value["env"]
        if not isinstance(var, str) or not var:
            raise self.error(key, f"expected {{ env = \"VAR\" }} naming a variable, got {_describe(var)}")
        resolved = self.env.get(var)
        if resolved is None:
            raise self.error(key, f"expected environment variable {var} to be set, got nothing")
        return resolved

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"expected an array of non-empty strings, got {_describe(value)}")
        return tuple(value)

    def plugins(self, table: dict[str, Any]) -> PluginsConfig:
        p = PluginsConfig()
        settings: dict[str, Mapping[str, Any]] = {}
        secrets: set[str] = set()
        scalars = {"modules", "disabled", "hook_timeout"}
        for key, value in table.items():
            if key in scalars:
                continue
            if not isinstance(value, dict):
                raise self.error(
                    f"plugins.{key}",
                    f"expected one of {_oneof(scalars)} or a [plugins.{key}] table, got {_describe(value)}",
                )
            settings[key] = self.settings_table(f"plugins.{key}", key, value, secrets)
        return PluginsConfig(
            modules=self.strings("plugins.modules", table.get("modules", [])),
            disabled=self.strings("plugins.disabled", table.get("disabled", [])),
            hook_timeout=self.seconds("plugins.hook_timeout", table.get("hook_timeout", p.hook_timeout)),
            settings=MappingProxyType(settings),
            secret_paths=frozenset(secrets),
        )

    def whatsapp(self, table: dict[str, Any]) -> WhatsAppConfig:
        self.known("whatsapp", table, WhatsAppConfig)
        w = WhatsAppConfig()
        sandbox = table.get("sandbox", w.sandbox)
        if type(sandbox) is not bool:
            raise self.error("whatsapp.sandbox", f"expected a boolean, got {_describe(sandbox)}")
        url = self.text("whatsapp.websocket_url", table.get("websocket_url", w.websocket_url))
        if not url.startswith(("ws://", "wss://")):
            raise self.error("whatsapp.websocket_url", f"expected a ws:// or wss:// URL, got {_describe(url)}")
        key = table.get("noise_root_public_key", w.noise_root_public_key)
        if key is not None and (
            not isinstance(key, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", key)
        ):
            raise self.error(
                "whatsapp.noise_root_public_key", f"expected 64 hex digits (32 bytes), got {_describe(key)}"
            )
        addressing = table.get("addressing", w.addressing)
        if addressing not in ("lid", "pn"):
            raise self.error("whatsapp.addressing", f'expected "lid" or "pn", got {_describe(addressing)}')
        return WhatsAppConfig(
            sandbox=sandbox,
            websocket_url=url,
            noise_root_public_key=key,
            ca_file=self.ca_file("whatsapp.ca_file", table.get("ca_file")),
            addressing=addressing,
        )

    def ca_file(self, key: str, value: Any) -> Path | None:
        """A PEM file of CA certificates that exists and that :mod:`ssl` can load."""
        if value is None:
            return None
        path = self.folder / self.text(key, value)
        try:
            ssl.create_default_context().load_verify_locations(cafile=path)
        except FileNotFoundError:
            raise self.error(key, f"expected a PEM file of CA certificates, got no such file {str(path)!r}") from None
        except IsADirectoryError:
            raise self.error(key, f"expected a PEM file of CA certificates, got a directory {str(path)!r}") from None
        except ssl.SSLError:
            raise self.error(
                key, f"expected a PEM file of CA certificates, got a file without a loadable certificate {str(path)!r}"
            ) from None
        except (OSError, ValueError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise self.error(key, f"expected a readable PEM file of CA certificates, got {problem} for {str(path)!r}") from None
        return path

    def media(self, table: dict[str, Any]) -> MediaConfig:
        self.known("media", table, MediaConfig)
        m = MediaConfig()
        redirects = table.get("max_redirects", m.max_redirects)
        if type(redirects) is not int or redirects < 0:
            raise self.error("media.max_redirects", f"expected an integer >= 0, got {_describe(redirects)}")
        return MediaConfig(
            max_bytes=self.count("media.max_bytes", table.get("max_bytes", m.max_bytes)),
            fetch_timeout=self.seconds("media.fetch_timeout", table.get("fetch_timeout", m.fetch_timeout)),
            max_redirects=redirects,
            allow_networks=self.networks("media.allow_networks", table.get("allow_networks", [])),
        )

    def networks(self, key: str, value: Any) -> tuple[Network, ...]:
        """An array of CIDR networks (``10.0.0.0/8``, ``fd00::/8``; a bare address is a /32 or /128)."""
        out: list[Network] = []
        for i, item in enumerate(self.strings(key, value)):
            try:
                out.append(ipaddress.ip_network(item.strip(), strict=True))
            except ValueError:
                raise self.error(
                    f"{key}[{i}]",
                    f"expected a CIDR network such as 10.0.0.0/8 or fd00::/8 (no host bits set), got {_describe(item)}",
                ) from None
        return tuple(out)

    def settings_table(self, key: str, path: str, table: dict[str, Any], secrets: set[str]) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        for name, value in table.items():
            out[name] = self.settings_value(f"{key}.{name}", f"{path}.{name}", value, secrets)
        return MappingProxyType(out)

    def settings_value(self, key: str, path: str, value: Any, secrets: set[str]) -> Any:
        if isinstance(value, dict):
            resolved = self.env_ref(key, value)
            if resolved is not None:
                secrets.add(path)
                return resolved
            return self.settings_table(key, path, value, secrets)
        if isinstance(value, list):
            return tuple(self.settings_value(f"{key}[{i}]", f"{path}[{i}]", v, secrets) for i, v in enumerate(value))
        return value


def _oneof(names: set[str]) -> str:
    return ", ".join(sorted(names))


def _apply_env(config: Config, env: Mapping[str, str]) -> Config:
    """Apply :data:`ENV_OVERRIDES`; an empty variable counts as unset."""
    loader = _Loader("environment", env)
    setters: dict[str, Callable[[Config, str], Config]] = {
        "PORT": lambda c, v: replace(c, server=replace(c.server, port=_env_port(loader, v))),
        "HOST": lambda c, v: replace(c, server=replace(c.server, host=loader.text("HOST", v))),
        "WAPORTA_DATA_DIR": lambda c, v: replace(c, storage=replace(c.storage, data_dir=Path(v))),
        "DASHBOARD_USERNAME": lambda c, v: replace(
            c, dashboard=replace(c.dashboard, username=loader.text("DASHBOARD_USERNAME", v))
        ),
        "DASHBOARD_PASSWORD": lambda c, v: replace(c, dashboard=replace(c.dashboard, password=v)),
        "DEFAULT_API_KEY": lambda c, v: replace(c, api=replace(c.api, default_key=v)),
    }
    for var, setter in setters.items():
        value = env.get(var)
        if value:
            config = setter(config, value)
    return config


def _env_port(loader: _Loader, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise loader.error("PORT", f"expected an integer port 0-65535, got {_describe(value)}")
    return loader.port("PORT", int(text))
