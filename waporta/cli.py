"""The ``waporta`` command line: ``serve``, ``init``, ``keys`` and ``plugins``.

``main(argv)`` parses arguments and returns the exit status: 0 on success, 1 when the command ran but
failed (``init`` would overwrite a file, ``keys revoke`` of an unknown id), 2 for bad usage, a bad
config (:class:`waporta.config.ConfigError`) or a plugin that cannot load
(:class:`waporta.plugins.PluginError`): those print one line to stderr, never a traceback.

This module is NOT the hub: it imports trio, the plugin manager, storage and the HTTP stack only
inside the command that needs them, so ``waporta --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waporta import __version__
from waporta.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from waporta.auth import Auth

__all__ = ["main"]

_STARTER_HEADER = """\
# waporta.toml, written by `waporta init`.
# Every key, its default and what it does: the annotated reference waporta.toml in the source
# repository, or docs/configuration.md. This file holds the dashboard password in plaintext:
# keep it private (it was created with mode 0600), or replace the value with
# password = { env = "SOME_VARIABLE" }.

"""


class _Fail(Exception):
    """A command failed with a one-line message and an exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- argument parsing


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected an integer port 0-65535, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation tooling and tests)."""
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help="config file (default: ./waporta.toml if it exists, else the built-in defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="waporta",
        description="waporta: a self-hosted WhatsApp gateway.",
        epilog="Environment overrides: PORT, HOST, WAPORTA_DATA_DIR, DASHBOARD_USERNAME, "
        "DASHBOARD_PASSWORD, DEFAULT_API_KEY.",
    )
    parser.add_argument("--version", action="version", version=f"waporta {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", parents=[config_opt], help="run the gateway until SIGINT/SIGTERM")
    serve.add_argument("--host", help="interface to bind (overrides [server] host and HOST)")
    serve.add_argument("--port", type=_port, help="TCP port (overrides [server] port and PORT)")
    serve.add_argument(
        "--sandbox",
        action="store_true",
        help="start the WhatsApp sandbox in-process and connect every session to it ([whatsapp] sandbox)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging threshold (default: info)",
    )
    serve.set_defaults(handler=_serve)

    init = commands.add_parser(
        "init", help="write a starter waporta.toml with a generated dashboard password (never overwrites)"
    )
    init.add_argument("--config", metavar="PATH", type=Path, default=Path("waporta.toml"),
                      help="where to write it (default: ./waporta.toml)")
    init.set_defaults(handler=_init)

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = key_commands.add_parser("create", parents=[config_opt], help="create a key (shown once)")
    create.add_argument("name", help="a label for the key, e.g. the client that uses it")
    create.set_defaults(handler=_keys_create)
    listing = key_commands.add_parser("list", parents=[config_opt], help="list keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_keys_list)
    revoke = key_commands.add_parser("revoke", parents=[config_opt], help="revoke a key by id")
    revoke.add_argument("id", help="the key's id, as `waporta keys list` shows it")
    revoke.set_defaults(handler=_keys_revoke)

    plugins = commands.add_parser("plugins", parents=[config_opt], help="list loaded plugins and their hooks")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.set_defaults(handler=_plugins)

    sandbox = commands.add_parser(
        "sandbox", help="run the WhatsApp sandbox (a simulated network clients can link to) until SIGINT"
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=0, help="TCP port (default: 0, any free port)")
    sandbox.add_argument("--state", metavar="DIR", type=Path, default=Path("sandbox-state"),
                         help="state directory: root key, accounts, media (default: ./sandbox-state)")
    sandbox.add_argument("--root-key", metavar="HEX", help="the root private key to use (default: kept in the state directory)")
    sandbox.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                         help="logging threshold (default: info)")
    sandbox.set_defaults(handler=_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)  # exits 2 with a usage message on bad arguments
    from waporta.plugins import PluginError
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, PluginError) as exc:
        return _error(str(exc), 2)
    except _Fail as exc:
        return _error(str(exc), exc.status)
    except BaseExceptionGroup as group:
        match, rest = group.split((ConfigError, PluginError, _Fail))
        if match is None or rest is not None:
            raise
        first = _leaves(match)[0]
        return _error(str(first), getattr(first, "status", 2))
    except KeyboardInterrupt:
        return 130


def _error(message: str, status: int) -> int:
    print(f"waporta: error: {message}", file=sys.stderr)
    return status


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


# ---------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.host is not None:
        config = replace(config, server=replace(config.server, host=args.host))
    if args.port is not None:
        config = replace(config, server=replace(config.server, port=args.port))
    if args.sandbox:
        config = replace(config, whatsapp=replace(config.whatsapp, sandbox=True))
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import functools

    import trio

    from waporta.hub import serve
    from waporta.plugins import Plugins

    plugins = Plugins.load(config)
    trio.run(functools.partial(serve, config, plugins=plugins))
    return 0


# ---------------------------------------------------------------- sandbox


def _sandbox(args: argparse.Namespace) -> int:
    """First stdout line: the sandbox's JSON banner (url, control, root_public_key, ca_file); then logs."""
    root: bytes | None = None
    if args.root_key is not None:
        try:
            root = bytes.fromhex(args.root_key)
        except ValueError:
            root = b""
        if len(root) != 32:
            raise _Fail("--root-key must be 64 hex digits (a 32-byte private key)", 2)
    import functools

    import trio

    from waproto.sandbox.server import run_standalone
    from waproto.sandbox.state import StateError

    def announce(line: str) -> None:
        print(line, flush=True)
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stdout,
        )

    try:
        try:
            trio.run(functools.partial(run_standalone, host=args.host, port=args.port, state_dir=args.state.resolve(),
                                       root_private=root, announce=announce, stop_on_signals=True))
        except BaseExceptionGroup as group:  # a failure to bind comes out of the servers' nursery
            match, rest = group.split(OSError)
            if match is None or rest is not None:
                raise
            raise _leaves(match)[0] from group
    except StateError as exc:
        raise _Fail(str(exc), 2) from exc
    except OSError as exc:
        raise _Fail(f"cannot serve the sandbox: {exc}", 1) from exc
    return 0


# ---------------------------------------------------------------- init


def _init(args: argparse.Namespace) -> int:
    import secrets

    import tomli_w

    path: Path = args.config
    password = secrets.token_urlsafe(18)
    starter = {
        "server": {"host": "127.0.0.1", "port": 3000},
        "storage": {"data_dir": "data"},
        "dashboard": {"username": "admin", "password": password},
        "plugins": {"modules": [], "disabled": []},
    }
    text = _STARTER_HEADER + tomli_w.dumps(starter)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _Fail(f"{path} already exists; not overwriting it", 1) from None
    except OSError as exc:
        raise _Fail(f"cannot write {path}: {exc.strerror}", 1) from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"Wrote {path.resolve()}")
    print("Dashboard login (shown once here; it is stored in that file):")
    print("  username: admin")
    print(f"  password: {password}")
    return 0


# ---------------------------------------------------------------- keys


def _with_auth(args: argparse.Namespace, action: Callable[[Auth], Any]) -> Any:
    """Open the database named by the config, run ``action(auth)`` under trio, close it."""
    config = _config(args)
    import trio

    from waporta.auth import Auth
    from waporta.storage import Database, db_path

    async def run() -> Any:
        db = await Database.open(db_path(config.storage.data_dir))
        try:
            return await action(Auth(db, config))
        finally:
            await db.aclose()

    return trio.run(run)


def _keys_create(args: argparse.Namespace) -> int:
    from waporta.auth import InvalidKeyName

    try:
        info, raw = _with_auth(args, lambda auth: auth.create_key(args.name))
    except InvalidKeyName as exc:
        raise _Fail(f"invalid key name: {exc}", 2) from None
    print(f"Created API key {info.name!r} (id {info.id}).")
    print("The key is shown only this once; only its hash is stored:")
    print(raw)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    infos = _with_auth(args, lambda auth: auth.list_keys())
    rows = [info.to_json() for info in infos]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No API keys. Create one with: waporta keys create NAME")
        return 0
    table = [["ID", "NAME", "PREFIX", "CREATED", "LAST USED"]] + [
        [r["id"], r["name"], r["prefix"], r["createdAt"], r["lastUsedAt"] or "never"] for r in rows
    ]
    _print_table(table)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    if not _with_auth(args, lambda auth: auth.revoke_key(args.id)):
        raise _Fail(f"no API key with id {args.id!r}", 1)
    print(f"Revoked API key {args.id}.")
    return 0


# ---------------------------------------------------------------- plugins


def _plugins(args: argparse.Namespace) -> int:
    from waporta.plugins import Plugins

    infos = Plugins.load(_config(args)).infos()
    if args.json:
        print(json.dumps([{"name": i.name, "version": i.version, "hooks": list(i.hooks)} for i in infos], indent=2))
        return 0
    if not infos:
        print("No plugins loaded.")
        return 0
    table = [["NAME", "VERSION", "HOOKS"]] + [[i.name, i.version or "-", ", ".join(i.hooks)] for i in infos]
    _print_table(table)
    return 0


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
