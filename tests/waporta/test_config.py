"""Tests for waporta.config: schema, validation messages, env overrides, secrets, the reference file."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import ssl
import tomllib
from pathlib import Path

import pytest

from waporta.config import (
    ENV_OVERRIDES,
    ApiConfig,
    Config,
    ConfigError,
    DashboardConfig,
    MediaConfig,
    PluginsConfig,
    ServerConfig,
    StorageConfig,
    WhatsAppConfig,
    default_config,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "waporta.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waporta.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


# ---------------------------------------------------------------- defaults and file discovery


def test_defaults_match_the_interface() -> None:
    c = default_config()
    assert c.server == ServerConfig(host="127.0.0.1", port=3000, graceful_timeout=10.0)
    assert c.storage.data_dir == Path("data")
    assert c.dashboard.username == "admin"
    assert c.dashboard.password is None
    assert c.dashboard.token_ttl == 86400.0
    assert (c.dashboard.login_max_failures, c.dashboard.login_window) == (5, 300.0)
    assert c.api.default_key is None
    assert (c.plugins.modules, c.plugins.disabled, c.plugins.hook_timeout) == ((), (), 10.0)
    assert dict(c.plugins.settings) == {}
    assert c.source is None


def test_no_path_and_no_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}) == default_config()


def test_no_path_uses_waporta_toml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[server]\nport = 4000\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.server.port == 4000
    assert config.source == Path("waporta.toml")


def test_env_none_reads_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "3456")
    assert load_config().server.port == 3456


def test_a_full_file_is_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
host = "0.0.0.0"
port = 8080
graceful_timeout = 3
[storage]
data_dir = "/var/lib/waporta"
[dashboard]
username = "boss"
password = "pw"
token_ttl = 60
login_max_failures = 2
login_window = 10.5
[api]
default_key = "k"
[plugins]
modules = ["a.b", "./local.py"]
disabled = ["x"]
hook_timeout = 0.5
[plugins.echo]
greeting = "hi"
nested = { level = 2 }
""",
    )
    c = load_config(path, env={})
    assert c.server == ServerConfig("0.0.0.0", 8080, 3.0)
    assert isinstance(c.server.graceful_timeout, float)
    assert c.storage == StorageConfig(Path("/var/lib/waporta"))
    assert c.dashboard == DashboardConfig("boss", "pw", 60.0, 2, 10.5)
    assert c.api == ApiConfig("k")
    assert c.plugins.modules == ("a.b", "./local.py")
    assert c.plugins.disabled == ("x",)
    assert c.plugins.hook_timeout == 0.5
    assert c.plugins.settings["echo"]["greeting"] == "hi"
    assert c.plugins.settings["echo"]["nested"]["level"] == 2
    assert c.source == path


def test_config_is_frozen_and_settings_read_only(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, '[plugins.echo]\na = 1\n'), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.server.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.plugins.settings["echo"]["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        c.plugins.settings["other"] = {}  # type: ignore[index]


# ---------------------------------------------------------------- errors: one line, file, key, expectation


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[sever]\nport = 1\n", "sever", "expected one of the sections"),
        ("server = 3\n", "server", "expected a table, got an integer 3"),
        ("[server]\nprot = 1\n", "server.prot", "expected one of graceful_timeout, host, port"),
        ('[server]\nport = "3000"\n', "server.port", "expected an integer port 0-65535, got a string '3000'"),
        ("[server]\nport = true\n", "server.port", "got a boolean True"),
        ("[server]\nport = 70000\n", "server.port", "expected an integer port 0-65535"),
        ("[server]\nport = 3000.0\n", "server.port", "got a float 3000.0"),
        ('[server]\nhost = ""\n', "server.host", "expected a non-empty string"),
        ("[server]\ngraceful_timeout = -1\n", "server.graceful_timeout", "expected a number of seconds >= 0"),
        ("[storage]\ndata_dir = 5\n", "storage.data_dir", "expected a non-empty string, got an integer 5"),
        ("[dashboard]\ntoken_ttl = 0\n", "dashboard.token_ttl", "expected a number of seconds > 0"),
        ("[dashboard]\ntoken_ttl = nan\n", "dashboard.token_ttl", "expected a number of seconds > 0"),
        ("[dashboard]\nlogin_max_failures = 0\n", "dashboard.login_max_failures", "expected a positive integer"),
        ("[dashboard]\nusername = []\n", "dashboard.username", "expected a non-empty string, got an array"),
        ("[api]\ndefault_key = { envv = 'X' }\n", "api.default_key", "expected a non-empty string or"),
        ('[plugins]\nmodules = "a"\n', "plugins.modules", "expected an array of non-empty strings"),
        ("[plugins]\ndisabled = [1]\n", "plugins.disabled", "expected an array of non-empty strings"),
        ("[plugins]\nhook_timeout = 0\n", "plugins.hook_timeout", "expected a number of seconds > 0"),
        ("[plugins]\nmodule = []\n", "plugins.module", "expected one of disabled, hook_timeout, modules"),
    ],
)
def test_bad_values_name_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'waporta.toml'}: {key}: expected")
    assert expected in message


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[server\nport = 1\n")
    assert "expected valid TOML, got" in message
    assert "line 1" in message


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "waporta.toml"
    path.write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigError, match="expected UTF-8 TOML"):
        load_config(path, env={})


def test_missing_given_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: expected a TOML file, got no such file"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="got a directory"):
        load_config(tmp_path, env={})


def test_error_attributes(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert (info.value.source, info.value.key) == (str(path), "server.port")


# ---------------------------------------------------------------- secrets


def test_env_secret_indirection(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dashboard]\npassword = { env = "DASH_PW" }\n[api]\ndefault_key = { env = "API_K" }\n'
        '[plugins.notify]\ntoken = { env = "NOTIFY_TOKEN" }\ndeep = { inner = { env = "INNER" } }\n'
        'list = [{ env = "ITEM" }, "plain"]\n',
    )
    env = {"DASH_PW": "pw-1", "API_K": "key-2", "NOTIFY_TOKEN": "tok-3", "INNER": "in-4", "ITEM": "it-5"}
    c = load_config(path, env=env)
    assert c.dashboard.password == "pw-1"
    assert c.api.default_key == "key-2"
    assert c.plugins.settings["notify"]["token"] == "tok-3"
    assert c.plugins.settings["notify"]["deep"]["inner"] == "in-4"
    assert c.plugins.settings["notify"]["list"] == ("it-5", "plain")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[dashboard]\npassword = { env = "MISSING_VAR" }\n', "dashboard.password"),
        ('[api]\ndefault_key = { env = "MISSING_VAR" }\n', "api.default_key"),
        ('[plugins.x]\ntoken = { env = "MISSING_VAR" }\n', "plugins.x.token"),
    ],
)
def test_missing_env_secret_names_the_variable(tmp_path: Path, text: str, key: str) -> None:
    message = load_error(tmp_path, text)
    assert f": {key}: expected environment variable MISSING_VAR to be set" in message


def test_an_empty_env_secret_is_refused_not_an_empty_password(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[dashboard]\npassword = { env = "EMPTY_PW" }\n', env={"EMPTY_PW": ""})
    assert message.endswith(": dashboard.password: expected environment variable EMPTY_PW to be non-empty, got an empty string")
    # plugin settings are the plugin's business: an empty string stays an empty string
    path = write(tmp_path, '[plugins.p]\nprefix = { env = "EMPTY" }\n')
    assert load_config(path, env={"EMPTY": ""}).plugins.settings["p"]["prefix"] == ""


def test_wrong_type_secret_does_not_echo_the_value(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[dashboard]\npassword = 987654321\n")
    assert "987654321" not in message
    assert "dashboard.password" in message


def test_repr_and_redacted_never_show_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[dashboard]\npassword = "file-pw-AAA"\n[api]\ndefault_key = { env = "K" }\n'
        '[plugins.notify]\nurl = { env = "URL" }\napi_token = "plain-tok-CCC"\ncolour = "blue"\n',
    )
    c = load_config(path, env={"K": "env-key-BBB", "URL": "https://user:pw-DDD@example.com"})
    for text in (repr(c), str(c), repr(c.dashboard), repr(c.api), repr(c.plugins), repr(c.redacted())):
        for secret in ("file-pw-AAA", "env-key-BBB", "plain-tok-CCC", "pw-DDD"):
            assert secret not in text
    assert "blue" in repr(c.plugins)
    redacted = c.redacted()
    assert redacted["dashboard"]["password"] == "<redacted>"
    assert redacted["api"]["default_key"] == "<redacted>"
    assert redacted["plugins"]["notify"] == {"url": "<redacted>", "api_token": "<redacted>", "colour": "blue"}
    assert redacted["server"]["port"] == 3000
    assert redacted["storage"]["data_dir"] == "data"


def test_repr_shows_unset_secrets_as_none() -> None:
    assert "password=None" in repr(DashboardConfig())
    assert repr(ApiConfig()) == "ApiConfig(default_key=None)"


# ---------------------------------------------------------------- environment overrides


def test_env_overrides_every_documented_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 1\nhost = "h"\n[dashboard]\nusername = "u"\npassword = "p"\n')
    env = {
        "PORT": "4321",
        "HOST": "0.0.0.0",
        "WAPORTA_DATA_DIR": "/srv/wa",
        "DASHBOARD_USERNAME": "root",
        "DASHBOARD_PASSWORD": "envpw",
        "DEFAULT_API_KEY": "envkey",
    }
    assert set(env) == set(ENV_OVERRIDES)
    c = load_config(path, env=env)
    assert (c.server.port, c.server.host) == (4321, "0.0.0.0")
    assert c.storage.data_dir == Path("/srv/wa")
    assert (c.dashboard.username, c.dashboard.password) == ("root", "envpw")
    assert c.api.default_key == "envkey"


def test_env_overrides_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(env={"PORT": "3001"}).server.port == 3001


def test_empty_env_values_count_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, '[dashboard]\npassword = "p"\n')
    c = load_config(path, env={"PORT": "", "DASHBOARD_PASSWORD": ""})
    assert c.server.port == 3000
    assert c.dashboard.password == "p"


@pytest.mark.parametrize("value", ["abc", "70000", "-1", "3000.5", "٣"])
def test_bad_port_env_is_a_config_error(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(env={"PORT": value})
    assert str(info.value).startswith("environment: PORT: expected an integer port 0-65535")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the annotated reference file


def test_reference_file_loads_to_exactly_the_defaults() -> None:
    loaded = load_config(REFERENCE, env={})
    assert dataclasses.replace(loaded, source=None) == default_config()


def test_reference_file_mentions_every_field() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    sections = {
        "server": ServerConfig,
        "storage": StorageConfig,
        "dashboard": DashboardConfig,
        "api": ApiConfig,
        "plugins": PluginsConfig,
        "whatsapp": WhatsAppConfig,
        "media": MediaConfig,
    }
    assert [f.name for f in dataclasses.fields(Config)] == [*sections, "source"]
    # Split the file into sections and look for "key =" (commented out for keys without a TOML default).
    chunks = re.split(r"^\[([a-z_.]+)\]\s*$", text, flags=re.MULTILINE)
    bodies = dict(zip(chunks[1::2], chunks[2::2], strict=True))
    internal = {"settings", "secret_paths"}  # [plugins.<name>] tables and bookkeeping, shown as a comment
    for section, schema in sections.items():
        assert section in bodies, section
        for f in dataclasses.fields(schema):
            if f.name in internal:
                continue
            assert re.search(rf"^(# )?{f.name} = ", bodies[section], re.MULTILINE), f"{section}.{f.name}"
    assert "[plugins.my_plugin]" in text


def test_reference_file_is_valid_toml_with_only_known_sections() -> None:
    data = tomllib.loads(REFERENCE.read_text(encoding="utf-8"))
    assert set(data) == {"server", "storage", "dashboard", "api", "plugins", "whatsapp", "media"}


# ---------------------------------------------------------------- [whatsapp]


def test_whatsapp_section_is_typed(tmp_path: Path) -> None:
    key = "ab" * 32
    path = write(
        tmp_path,
        f'[whatsapp]\nsandbox = true\nwebsocket_url = "ws://127.0.0.1:9000/ws/chat"\nnoise_root_public_key = "{key}"\n',
    )
    c = load_config(path, env={})
    assert c.whatsapp == WhatsAppConfig(True, "ws://127.0.0.1:9000/ws/chat", key)
    assert c.redacted()["whatsapp"] == {
        "sandbox": True,
        "websocket_url": "ws://127.0.0.1:9000/ws/chat",
        "noise_root_public_key": key,
        "ca_file": None,
        "addressing": "lid",
    }
    assert default_config().whatsapp == WhatsAppConfig(False, "wss://web.whatsapp.com/ws/chat", None, None, "lid")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("sandbox = 1", "whatsapp.sandbox", "expected a boolean"),
        ('websocket_url = "http://x/ws"', "whatsapp.websocket_url", "expected a ws:// or wss:// URL"),
        ('noise_root_public_key = "abc"', "whatsapp.noise_root_public_key", "expected 64 hex digits"),
        ("noise_root_public_key = 5", "whatsapp.noise_root_public_key", "expected 64 hex digits"),
        ("unknown = 1", "whatsapp.unknown", "expected one of"),
        ('addressing = "phone"', "whatsapp.addressing", 'expected "lid" or "pn", got a string \'phone\''),
        ("addressing = 1", "whatsapp.addressing", 'expected "lid" or "pn"'),
        ("ca_file = 5", "whatsapp.ca_file", "expected a non-empty string, got an integer 5"),
        ('ca_file = ""', "whatsapp.ca_file", "expected a non-empty string"),
    ],
)
def test_bad_whatsapp_values(tmp_path: Path, text: str, key: str, expected: str) -> None:
    message = load_error(tmp_path, f"[whatsapp]\n{text}\n")
    assert f": {key}: {expected}" in message


def test_whatsapp_addressing_pn(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, '[whatsapp]\naddressing = "pn"\n'), env={})
    assert c.whatsapp.addressing == "pn"
    assert c.redacted()["whatsapp"]["addressing"] == "pn"


# ---------------------------------------------------------------- [whatsapp] ca_file


def make_ca(folder: Path) -> Path:
    from waproto.sandbox.media import ensure_tls_files

    return ensure_tls_files(folder).ca_file


def test_ca_file_relative_to_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca(tmp_path / "tls")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative ca_file does not depend on the working directory
    c = load_config(write(tmp_path, '[whatsapp]\nca_file = "tls/ca.pem"\n'), env={})
    assert c.whatsapp.ca_file == tmp_path / "tls" / "ca.pem"
    assert c.whatsapp.ca_file.samefile(ca)
    assert c.redacted()["whatsapp"]["ca_file"] == str(tmp_path / "tls" / "ca.pem")
    absolute = load_config(write(tmp_path, f'[whatsapp]\nca_file = "{ca}"\n'), env={})
    assert absolute.whatsapp.ca_file == ca


def test_ca_file_ssl_context_trusts_it(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "tls")
    c = load_config(write(tmp_path, f'[whatsapp]\nca_file = "{ca}"\n'), env={})
    with_ca = c.whatsapp.ssl_context()
    without = default_config().whatsapp.ssl_context()
    assert isinstance(with_ca, ssl.SSLContext)
    assert with_ca.verify_mode == ssl.CERT_REQUIRED
    assert with_ca.check_hostname
    subjects = {str(cert.get("subject")) for cert in with_ca.get_ca_certs()}
    assert len(with_ca.get_ca_certs()) == len(without.get_ca_certs()) + 1
    assert any("waporta" in s.lower() or "sandbox" in s.lower() for s in subjects)


def test_missing_ca_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[whatsapp]\nca_file = "nope/ca.pem"\n')
    assert message == (
        f"{tmp_path / 'waporta.toml'}: whatsapp.ca_file: expected a PEM file of CA certificates, "
        f"got no such file {str(tmp_path / 'nope' / 'ca.pem')!r}"
    )


def test_ca_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    message = load_error(tmp_path, '[whatsapp]\nca_file = "d"\n')
    assert ": whatsapp.ca_file: expected a PEM file of CA certificates, got a directory" in message


@pytest.mark.parametrize(
    "content",
    [b"", b"hello\n", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"],
)
def test_ca_file_without_a_certificate(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pem").write_bytes(content)
    message = load_error(tmp_path, '[whatsapp]\nca_file = "bad.pem"\n')
    assert ": whatsapp.ca_file: expected a PEM file of CA certificates, got a file without a loadable certificate" in message


def test_ca_file_holding_only_a_private_key_is_refused(tmp_path: Path) -> None:
    make_ca(tmp_path / "tls")
    message = load_error(tmp_path, '[whatsapp]\nca_file = "tls/ca-key.pem"\n')
    assert "whatsapp.ca_file: expected a PEM file of CA certificates" in message
    assert "PRIVATE" not in message


# ---------------------------------------------------------------- [media]


def test_media_defaults() -> None:
    m = default_config().media
    assert m == MediaConfig(max_bytes=64 * 1024 * 1024, fetch_timeout=30.0, max_redirects=5, allow_networks=())
    assert default_config().redacted()["media"] == {
        "max_bytes": 67108864,
        "fetch_timeout": 30.0,
        "max_redirects": 5,
        "allow_networks": [],
    }


def test_media_section_is_typed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[media]\nmax_bytes = 1000\nfetch_timeout = 2\nmax_redirects = 0\n'
        'allow_networks = ["127.0.0.0/8", "10.1.0.0/16", "fd00::/8", "192.168.1.5"]\n',
    )
    m = load_config(path, env={}).media
    assert (m.max_bytes, m.fetch_timeout, m.max_redirects) == (1000, 2.0, 0)
    assert isinstance(m.fetch_timeout, float)
    assert m.allow_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.1.5/32"),
    )
    assert load_config(path, env={}).redacted()["media"]["allow_networks"] == [
        "127.0.0.0/8",
        "10.1.0.0/16",
        "fd00::/8",
        "192.168.1.5/32",
    ]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("max_bytes = 0", "media.max_bytes", "expected a positive integer, got an integer 0"),
        ('max_bytes = "64M"', "media.max_bytes", "expected a positive integer"),
        ("max_bytes = 1.5", "media.max_bytes", "expected a positive integer"),
        ("fetch_timeout = 0", "media.fetch_timeout", "expected a number of seconds > 0"),
        ("fetch_timeout = inf", "media.fetch_timeout", "expected a number of seconds > 0"),
        ("max_redirects = -1", "media.max_redirects", "expected an integer >= 0, got an integer -1"),
        ("max_redirects = true", "media.max_redirects", "expected an integer >= 0, got a boolean True"),
        ('allow_networks = "10.0.0.0/8"', "media.allow_networks", "expected an array of non-empty strings"),
        ("allow_networks = [10]", "media.allow_networks", "expected an array of non-empty strings"),
        (
            'allow_networks = ["127.0.0.0/8", "10.0.0.1/8"]',
            "media.allow_networks[1]",
            "expected a CIDR network such as 10.0.0.0/8 or fd00::/8 (no host bits set), got a string '10.0.0.1/8'",
        ),
        ('allow_networks = ["localhost"]', "media.allow_networks[0]", "expected a CIDR network"),
        ('allow_networks = ["10.0.0.0/33"]', "media.allow_networks[0]", "expected a CIDR network"),
        ("unknown = 1", "media.unknown", "expected one of allow_networks, fetch_timeout, max_bytes, max_redirects"),
        ("", "media", "expected a table"),
    ],
)
def test_bad_media_values(tmp_path: Path, text: str, key: str, expected: str) -> None:
    document = "media = 1\n" if not text else f"[media]\n{text}\n"
    message = load_error(tmp_path, document)
    assert f": {key}: {expected}" in message


def test_configuration_doc_covers_media_and_new_whatsapp_keys() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert "### `[media]`" in text
    for f in dataclasses.fields(MediaConfig):
        assert f"| `{f.name}` |" in text, f.name
    for name in ("ca_file", "addressing"):
        assert f"| `{name}` |" in text, name
