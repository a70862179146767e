"""The plugin manager: loads plugins and calls their hooks through a typed facade.

Load order (:meth:`Plugins.load`): the built-ins in :data:`DEFAULT_PLUGINS`, then the ``waporta``
entry-point group (installed packages), then ``[plugins] modules`` from the config (importable module
names or ``.py`` file paths). Names in ``[plugins] disabled`` are blocked before anything loads, so a
disabled plugin is never imported. pluggy calls implementations newest first, so a plugin named in
``waporta.toml`` runs before (and, for ``firstresult`` hooks, wins over) entry points and built-ins.

Everything that can be wrong with a plugin is found at load time and raised as one-line
:class:`PluginError`: an unknown module or file, an import failure, an implementation of an unknown
hook name (a typo), an argument the spec does not have, an ``async def`` implementation of a
sync-only hook (:data:`waporta.hookspecs.SYNC_ONLY`), a hook wrapper.

At run time the event hooks are isolated: each implementation is awaited if it is async, under its
own ``[plugins] hook_timeout``, and its exception is logged (logger ``waporta.plugins``), never
raised. This module is NOT the hook contract (``waporta/hookspecs.py``) and calls no hook by itself:
the hub decides when hooks fire.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import trio

from waporta import __version__, hookspecs
from waporta.hookspecs import PROJECT, SYNC_ONLY

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from waporta.config import Config
    from waporta.hub import Hub

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "PluginError", "PluginInfo", "Plugins"]

log = logging.getLogger("waporta.plugins")

#: Module names of the built-in plugins, loaded first (so their implementations run last).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "waporta_plugins.rest_auth",
    "waporta_plugins.rest_keys",
    "waporta_plugins.rest_webhooks",
    "waporta_plugins.rest_sessions",
    "waporta_plugins.rest_messages",
    "waporta_plugins.send_retry",
)

#: The entry-point group installed packages use to provide plugins.
ENTRY_POINT_GROUP = "waporta"


class PluginError(Exception):
    """A plugin cannot be loaded (or its routes cannot be registered). ``str(err)`` is one line.

    The CLI prints it and exits with status 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``waporta plugins`` lists it."""

    #: The registration name (module name, entry-point name, or ``.py`` file stem).
    name: str
    #: The distribution's version for entry points, the module's ``__version__`` otherwise, or None.
    version: str | None
    #: The hooks it implements, sorted.
    hooks: tuple[str, ...]


class Plugins:
    """A typed facade over a :class:`pluggy.PluginManager`: one method per hook.

    Build it with :meth:`load`; tests and embedding code may also create an empty one and
    :meth:`register` plugin objects directly.
    """

    def __init__(self, *, hook_timeout: float = 10.0) -> None:
        #: The underlying pluggy manager (specs from :mod:`waporta.hookspecs` already added).
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        #: Seconds each async implementation may run.
        self.hook_timeout = hook_timeout
        self._versions: dict[str, str | None] = {}

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, config: Config, *, entry_points: bool = True) -> Plugins:
        """Load built-ins, entry points (unless ``entry_points=False``) and configured modules.

        :raises PluginError: naming the plugin and the problem.
        """
        plugins = cls(hook_timeout=config.plugins.hook_timeout)
        for name in config.plugins.disabled:
            plugins.pm.set_blocked(name)
        for module_name in DEFAULT_PLUGINS:
            plugins._load_module(module_name, origin="built-in plugin", version=__version__)
        if entry_points:
            plugins._load_entry_points()
        base = config.source.parent if config.source is not None else Path.cwd()
        for spec in config.plugins.modules:
            if spec.endswith(".py") or "/" in spec or "\\" in spec:
                plugins._load_file(spec, base)
            else:
                plugins._load_module(spec, origin="plugin module (from [plugins] modules)")
        plugins.check_pending()
        return plugins

    def register(self, plugin: object, name: str | None = None, *, version: str | None = None) -> None:
        """Register one plugin object (a module, a class instance, ...) and validate it.

        ``name`` defaults to the module's (or class's) ``__name__``, else the instance's class name.
        A blocked (disabled) name is silently skipped.

        :raises PluginError: when the plugin implements an unknown hook, takes arguments the spec
            does not have, is async where a hook must be sync, uses a hook wrapper, or its name is
            already taken.
        """
        label = name or _default_name(plugin)
        if self.pm.is_blocked(label):
            log.info("plugin %r is disabled", label)
            return
        if name is None and self.pm.has_plugin(label):
            label = f"{label}-{id(plugin):x}"  # a second instance of the same class
        try:
            self.pm.register(plugin, label)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {label!r}: {exc}") from None
        except ValueError as exc:
            raise PluginError(f"plugin {label!r} cannot be registered: {exc}") from None
        try:
            self._validate(plugin, label)
        except PluginError:
            self.pm.unregister(plugin)
            raise
        self._versions[label] = version if version is not None else _attr_version(plugin)

    def check_pending(self) -> None:
        """Fail if any registered implementation has no spec (pluggy's ``check_pending``)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from None

    def _validate(self, plugin: object, label: str) -> None:
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if caller.spec is None:
                    if impl.optionalhook:
                        continue
                    raise PluginError(f"plugin {label!r} implements unknown hook {caller.name!r}{_suggest(caller.name)}")
                if impl.wrapper or impl.hookwrapper:
                    raise PluginError(f"plugin {label!r}: hook {caller.name!r}: waporta hooks do not support wrappers")
                sync_only = caller.name in SYNC_ONLY or caller.spec.opts.get("firstresult", False)
                if sync_only and _is_async(impl.function):
                    raise PluginError(
                        f"plugin {label!r}: hook {caller.name!r} must be synchronous, got an async implementation"
                    )

    def _load_module(self, module_name: str, *, origin: str, version: str | None = None) -> None:
        if self.pm.is_blocked(module_name):
            log.info("plugin %r is disabled", module_name)
            return
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                raise PluginError(f"unknown {origin} {module_name!r}: no module named {missing!r}") from None
            raise PluginError(f"{origin} {module_name!r} failed to import: {_one_line(exc)}") from None
        except Exception as exc:
            raise PluginError(f"{origin} {module_name!r} failed to import: {_one_line(exc)}") from None
        if self.pm.is_registered(module):
            return
        self.register(module, module_name, version=version)

    def _load_file(self, spec: str, base: Path) -> None:
        path = Path(spec).expanduser()
        if not path.is_absolute():
            path = base / path
        name = path.stem
        if self.pm.is_blocked(name):
            log.info("plugin %r is disabled", name)
            return
        if not path.is_file():
            raise PluginError(f"unknown plugin file {spec!r}: {path} does not exist")
        module_name = f"_waporta_plugin_{name}"
        import_spec = importlib.util.spec_from_file_location(module_name, path)
        if import_spec is None or import_spec.loader is None:
            raise PluginError(f"plugin file {spec!r} cannot be imported")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[module_name] = module
        try:
            import_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise PluginError(f"plugin file {spec!r} failed to import: {_one_line(exc)}") from None
        self.register(module, name)

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.is_blocked(ep.name):
                log.info("plugin %r is disabled", ep.name)
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"entry point {ep.name!r} ({ep.value}) failed to load: {_one_line(exc)}"
                ) from None
            if self.pm.is_registered(plugin):
                continue
            version = ep.dist.version if ep.dist is not None else None
            self.register(plugin, ep.name, version=version)

    # ------------------------------------------------------------ introspection

    def infos(self) -> list[PluginInfo]:
        """The loaded plugins in load order, with their versions and hooks."""
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # a blocked name
                continue
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or []))
            out.append(PluginInfo(name=name, version=self._versions.get(name), hooks=hooks))
        return out

    # ------------------------------------------------------------ the hooks

    async def startup(self, hub: Hub) -> None:
        """Run ``waporta_startup`` implementations (isolated, each under the timeout)."""
        await self._notify("waporta_startup", {"hub": hub})

    async def shutdown(self, hub: Hub) -> None:
        """Run ``waporta_shutdown`` implementations (isolated, each under the timeout)."""
        await self._notify("waporta_shutdown", {"hub": hub})

    def register_routes(self, hub: Hub, app: QuartTrio) -> None:
        """Let every plugin add its routes.

        :raises PluginError: naming the plugin whose implementation raised.
        """
        for impl in self._impls("register_routes"):
            try:
                result = _call(impl, {"hub": hub, "app": app})
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r}: register_routes failed: {_one_line(exc)}") from exc
            if inspect.isawaitable(result):
                _discard(result)
                raise PluginError(f"plugin {impl.plugin_name!r}: register_routes returned an awaitable; it must be sync")

    async def message_received(self, hub: Hub, session_id: str, message: Any) -> None:
        """Run ``message_received`` implementations (isolated, each under the timeout)."""
        await self._notify("message_received", {"hub": hub, "session_id": session_id, "message": message})

    async def session_status_changed(self, hub: Hub, session_id: str, status: str) -> None:
        """Run ``session_status_changed`` implementations (isolated, each under the timeout)."""
        await self._notify("session_status_changed", {"hub": hub, "session_id": session_id, "status": status})

    async def delivery_failed(self, hub: Hub, failure: Any) -> None:
        """Run ``delivery_failed`` implementations (isolated, each under the timeout)."""
        await self._notify("delivery_failed", {"hub": hub, "failure": failure})

    def send_retry_policy(self, hub: Hub, session_id: str, attempt: int, error: BaseException) -> float | None:
        """Ask the plugins, newest first, how long to wait before retrying; None means give up."""
        kwargs = {"hub": hub, "session_id": session_id, "attempt": attempt, "error": error}
        for impl in self._impls("send_retry_policy"):
            try:
                result = _call(impl, kwargs)
            except Exception:
                log.exception("plugin %r: send_retry_policy raised; treated as no opinion", impl.plugin_name)
                continue
            if result is None:
                continue
            if inspect.isawaitable(result):
                _discard(result)
                log.error("plugin %r: send_retry_policy returned an awaitable; ignored", impl.plugin_name)
                continue
            if isinstance(result, bool) or not isinstance(result, int | float) or not result >= 0:
                log.error("plugin %r: send_retry_policy returned %r; giving up", impl.plugin_name, result)
                return None
            return None if math.isinf(result) else float(result)
        return None

    # ------------------------------------------------------------ calling machinery

    def _impls(self, hook_name: str) -> Iterator[pluggy.HookImpl]:
        """Implementations in pluggy's call order: newest registered first, tryfirst/trylast honoured."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook_name)
        return reversed(caller.get_hookimpls())

    async def _notify(self, hook_name: str, kwargs: dict[str, Any]) -> None:
        for impl in self._impls(hook_name):
            await self._run_isolated(hook_name, impl, kwargs)

    async def _run_isolated(self, hook_name: str, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> None:
        with trio.move_on_after(self.hook_timeout) as scope:
            try:
                result = _call(impl, kwargs)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("plugin %r: hook %s raised", impl.plugin_name, hook_name)
        if scope.cancelled_caught:
            log.error("plugin %r: hook %s timed out after %gs", impl.plugin_name, hook_name, self.hook_timeout)


def _call(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
    """Call one implementation with the subset of arguments it declares (as pluggy does)."""
    args = [kwargs[name] for name in impl.argnames]
    extra = {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
    return impl.function(*args, **extra)


def _default_name(plugin: object) -> str:
    """A module's or class's own name; for an instance, its class's qualified name."""
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__qualname__


def _is_async(function: object) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _discard(awaitable: object) -> None:
    """Close a never-awaited coroutine so Python does not warn about it."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(_spec_names()), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _spec_names() -> set[str]:
    return {
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, f"{PROJECT}_spec")
    }


def _attr_version(plugin: object) -> str | None:
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None
