"""Tests for waporta.plugins: loading order and sources, validation at load, isolated dispatch."""

from __future__ import annotations

import itertools
import logging
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from waporta import __version__, hookimpl, plugins
from waporta.config import Config, PluginsConfig, load_config
from waporta.plugins import PluginError, PluginInfo, Plugins

HUB: Any = object()  # the facade passes the hub through untouched
_ids = itertools.count()


def unique(prefix: str) -> str:
    """A module name no other test (or run) has imported."""
    return f"{prefix}_{next(_ids)}_{id(object()):x}"


def make_module(root: Path, name: str, body: str) -> str:
    (root / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def config_with(tmp_path: Path, toml: str) -> Config:
    path = tmp_path / "waporta.toml"
    path.write_text(textwrap.dedent(toml), encoding="utf-8")
    return load_config(path, env={})


RECORDING_PLUGIN = """
    from waporta import hookimpl

    calls = []

    @hookimpl
    def register_routes(hub, app):
        app.routes.append(("/hello", __name__))

    @hookimpl
    def message_received(session_id, message):
        calls.append((session_id, message))
"""


class FakeApp:
    def __init__(self) -> None:
        self.routes: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def no_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests here control the built-in list; the real one is checked by test_the_real_builtins_load."""
    monkeypatch.setattr(plugins, "DEFAULT_PLUGINS", ())


# ---------------------------------------------------------------- loading sources


def test_no_plugins_loads_nothing() -> None:
    assert Plugins.load(Config(), entry_points=False).infos() == []


def test_the_real_builtins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    builtins = plugins.DEFAULT_PLUGINS
    loaded = Plugins.load(Config(), entry_points=False)
    assert [info.name for info in loaded.infos()] == list(builtins)
    assert all(info.version == __version__ for info in loaded.infos())
    disabled = Plugins.load(Config(plugins=PluginsConfig(disabled=builtins)), entry_points=False)
    assert disabled.infos() == []


def test_py_file_named_in_toml_registers_routes(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    make_module(tmp_path / "local", "hello_routes", RECORDING_PLUGIN)
    config = config_with(tmp_path, '[plugins]\nmodules = ["local/hello_routes.py"]\n')
    loaded = Plugins.load(config, entry_points=False)
    app = FakeApp()
    loaded.register_routes(HUB, app)  # type: ignore[arg-type]
    assert [route for route, _ in app.routes] == ["/hello"]
    assert [info.name for info in loaded.infos()] == ["hello_routes"]


def test_absolute_py_path(tmp_path: Path) -> None:
    make_module(tmp_path, "abs_plugin", RECORDING_PLUGIN)
    config = Config(plugins=PluginsConfig(modules=(str(tmp_path / "abs_plugin.py"),)))
    assert [i.name for i in Plugins.load(config, entry_points=False).infos()] == ["abs_plugin"]


async def test_module_name_named_in_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = make_module(tmp_path, unique("recmod"), RECORDING_PLUGIN)
    config = Config(plugins=PluginsConfig(modules=(name,)))
    loaded = Plugins.load(config, entry_points=False)
    await loaded.message_received(HUB, "s1", {"text": "hi"})
    assert sys.modules[name].calls == [("s1", {"text": "hi"})]
    (info,) = loaded.infos()
    assert info == PluginInfo(name=name, version=None, hooks=("message_received", "register_routes"))


def test_a_module_listed_twice_registers_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = make_module(tmp_path, unique("twice"), RECORDING_PLUGIN)
    loaded = Plugins.load(Config(plugins=PluginsConfig(modules=(name, name))), entry_points=False)
    assert len(loaded.infos()) == 1


def write_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """A real (if minimal) installed distribution: a .dist-info folder importlib.metadata reads."""
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[waporta]\n{lines}", encoding="utf-8")


def test_entry_point_plugins_load_with_their_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = make_module(tmp_path, unique("ep_mod"), RECORDING_PLUGIN)
    dist = unique("waporta_fake_dist")
    write_distribution(tmp_path, dist, "1.2.3", {"fancy": module})
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = Plugins.load(Config())
    fancy = [info for info in loaded.infos() if info.name == "fancy"]
    assert fancy == [PluginInfo(name="fancy", version="1.2.3", hooks=("message_received", "register_routes"))]
    assert [i.name for i in Plugins.load(Config(), entry_points=False).infos()] == []


def test_entry_point_that_fails_to_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_distribution(tmp_path, unique("waporta_broken_dist"), "0.1", {"broken": "no_such_module_xyz:thing"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"entry point 'broken' \(no_such_module_xyz:thing\) failed to load"):
        Plugins.load(Config())


# ---------------------------------------------------------------- start-up errors


def test_unknown_module_is_named(tmp_path: Path) -> None:
    config = Config(plugins=PluginsConfig(modules=("no_such_plugin_module",)))
    with pytest.raises(PluginError) as info:
        Plugins.load(config, entry_points=False)
    assert "unknown plugin module (from [plugins] modules) 'no_such_plugin_module'" in str(info.value)


def test_module_with_a_missing_dependency_is_an_import_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = make_module(tmp_path, unique("needs_dep"), "import some_missing_dependency_abc\n")
    with pytest.raises(PluginError, match=f"'{name}' failed to import: ModuleNotFoundError"):
        Plugins.load(Config(plugins=PluginsConfig(modules=(name,))), entry_points=False)


def test_missing_py_file(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[plugins]\nmodules = ["nope.py"]\n')
    with pytest.raises(PluginError, match=r"unknown plugin file 'nope.py': .*nope.py does not exist"):
        Plugins.load(config, entry_points=False)


def test_py_file_with_a_syntax_error(tmp_path: Path) -> None:
    make_module(tmp_path, "broken", "def oops(:\n")
    config = config_with(tmp_path, '[plugins]\nmodules = ["broken.py"]\n')
    with pytest.raises(PluginError) as info:
        Plugins.load(config, entry_points=False)
    assert str(info.value).startswith("plugin file 'broken.py' failed to import: SyntaxError")
    assert "\n" not in str(info.value)
    assert "_waporta_plugin_broken" not in sys.modules


def test_typo_in_a_hook_name_fails_loading_and_names_it(tmp_path: Path) -> None:
    make_module(
        tmp_path,
        "typo",
        """
        from waporta import hookimpl

        @hookimpl
        def register_route(hub, app):
            pass
        """,
    )
    config = config_with(tmp_path, '[plugins]\nmodules = ["typo.py"]\n')
    with pytest.raises(PluginError) as info:
        Plugins.load(config, entry_points=False)
    assert str(info.value) == (
        "plugin 'typo' implements unknown hook 'register_route' (did you mean 'register_routes'?)"
    )


def test_unknown_hook_without_a_close_match() -> None:
    class Odd:
        @hookimpl
        def completely_unrelated(self) -> None:
            pass

    p = Plugins()
    with pytest.raises(PluginError, match=r"implements unknown hook 'completely_unrelated'$"):
        p.register(Odd())
    assert p.infos() == []  # nothing half-registered


def test_optional_unknown_hooks_are_allowed() -> None:
    class Optional:
        @hookimpl(optionalhook=True)
        def some_future_hook(self) -> None:
            pass

    p = Plugins()
    p.register(Optional())
    p.check_pending()


def test_check_pending_backstop_for_direct_pm_use() -> None:
    class Direct:
        @hookimpl
        def not_a_hook(self) -> None:
            pass

    p = Plugins()
    p.pm.register(Direct())
    with pytest.raises(PluginError, match="unknown hook 'not_a_hook'"):
        p.check_pending()


def test_argument_not_in_the_spec() -> None:
    class Bad:
        @hookimpl
        def message_received(self, hub: Any, body: Any) -> None:
            pass

    with pytest.raises(PluginError, match=r"'body'.*can not be found in the hookspec"):
        Plugins().register(Bad(), "bad")


def test_async_firstresult_impl_is_refused() -> None:
    class AsyncPolicy:
        @hookimpl
        async def send_retry_policy(self, attempt: int) -> float:
            return 1.0

    p = Plugins()
    with pytest.raises(PluginError) as info:
        p.register(AsyncPolicy(), "asyncpolicy")
    assert str(info.value) == (
        "plugin 'asyncpolicy': hook 'send_retry_policy' must be synchronous, got an async implementation"
    )
    assert p.infos() == []


def test_async_register_routes_is_refused() -> None:
    class AsyncRoutes:
        @hookimpl
        async def register_routes(self, app: Any) -> None:
            pass

    with pytest.raises(PluginError, match="'register_routes' must be synchronous"):
        Plugins().register(AsyncRoutes())


def test_wrappers_are_refused() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def message_received(self, hub: Any) -> Any:
            return (yield)

    with pytest.raises(PluginError, match="do not support wrappers"):
        Plugins().register(Wrapper(), "wrapper")


def test_duplicate_name_is_a_plugin_error() -> None:
    class A:
        @hookimpl
        def message_received(self) -> None:
            pass

    p = Plugins()
    p.register(A(), "same")
    with pytest.raises(PluginError, match="'same' cannot be registered"):
        p.register(A(), "same")


def test_instances_of_one_class_get_distinct_default_names() -> None:
    class Listener:
        @hookimpl
        def message_received(self) -> None:
            pass

    p = Plugins()
    p.register(Listener())
    p.register(Listener())
    names = [info.name for info in p.infos()]
    assert len(names) == 2
    assert names[0].endswith("Listener")
    assert names[1].startswith(names[0] + "-")


# ---------------------------------------------------------------- disabling


def test_disabled_file_plugin_is_never_imported(tmp_path: Path) -> None:
    make_module(tmp_path, "explosive", "raise RuntimeError('must not be imported')\n")
    config = config_with(tmp_path, '[plugins]\nmodules = ["explosive.py"]\ndisabled = ["explosive"]\n')
    assert Plugins.load(config, entry_points=False).infos() == []


def test_disabled_module_and_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    builtin = make_module(tmp_path, unique("builtin"), RECORDING_PLUGIN)
    user = make_module(tmp_path, unique("user"), RECORDING_PLUGIN)
    monkeypatch.setattr(plugins, "DEFAULT_PLUGINS", (builtin,))
    both = Plugins.load(Config(plugins=PluginsConfig(modules=(user,))), entry_points=False)
    assert [i.name for i in both.infos()] == [builtin, user]
    assert both.infos()[0].version is not None  # built-ins carry waporta's version
    none = Plugins.load(Config(plugins=PluginsConfig(modules=(user,), disabled=(builtin, user))), entry_points=False)
    assert none.infos() == []


def test_disabled_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_distribution(tmp_path, unique("waporta_off_dist"), "0.1", {"offplug": "module_that_does_not_exist_q"})
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = Plugins.load(Config(plugins=PluginsConfig(disabled=("offplug",))))
    assert "offplug" not in [i.name for i in loaded.infos()]


def test_register_skips_a_disabled_name() -> None:
    class Quiet:
        @hookimpl
        def message_received(self) -> None:
            pass

    p = Plugins()
    p.pm.set_blocked("quiet")
    p.register(Quiet(), "quiet")
    assert p.infos() == []


# ---------------------------------------------------------------- order


ORDERED_PLUGIN = """
    from waporta import hookimpl
    import {log_module} as log

    @hookimpl
    def message_received():
        log.order.append({label!r})

    @hookimpl
    def send_retry_policy():
        return {delay}
"""


async def test_user_plugins_run_before_entry_points_before_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    log_module = make_module(tmp_path, unique("orderlog"), "order = []\n")

    def plugin(label: str, delay: float) -> str:
        body = ORDERED_PLUGIN.format(log_module=log_module, label=label, delay=delay)
        return make_module(tmp_path, unique(label), body)

    builtin, entry, user = plugin("builtin", 1.0), plugin("entry", 2.0), plugin("user", 3.0)
    monkeypatch.setattr(plugins, "DEFAULT_PLUGINS", (builtin,))
    write_distribution(tmp_path, unique("waporta_order_dist"), "1.0", {"entry": entry})
    loaded = Plugins.load(Config(plugins=PluginsConfig(modules=(user,))))
    await loaded.message_received(HUB, "s", None)
    assert sys.modules[log_module].order == ["user", "entry", "builtin"]
    assert loaded.send_retry_policy(HUB, "s", 1, RuntimeError()) == 3.0


# ---------------------------------------------------------------- dispatch


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    @hookimpl
    async def waporta_startup(self, hub: Any) -> None:
        self.calls.append(("startup", (hub,)))

    @hookimpl
    def waporta_shutdown(self, hub: Any) -> None:
        self.calls.append(("shutdown", (hub,)))

    @hookimpl
    async def session_status_changed(self, status: str, session_id: str) -> None:
        self.calls.append(("status", (session_id, status)))

    @hookimpl
    def delivery_failed(self, failure: Any) -> Any:
        async def later() -> None:
            self.calls.append(("failed", (failure,)))

        return later()  # a sync impl returning an awaitable is awaited too


async def test_every_event_hook_reaches_its_implementations() -> None:
    p = Plugins()
    recorder = Recorder()
    p.register(recorder, "recorder")
    await p.startup(HUB)
    await p.session_status_changed(HUB, "s1", "connected")
    await p.delivery_failed(HUB, {"kind": "webhook"})
    await p.shutdown(HUB)
    assert recorder.calls == [
        ("startup", (HUB,)),
        ("status", ("s1", "connected")),
        ("failed", ({"kind": "webhook"},)),
        ("shutdown", (HUB,)),
    ]


def make_plugin(**hooks: Callable[..., Any]) -> object:
    """A plugin object whose attributes are the given hook implementations."""
    ns = type("Plugin", (), {})()
    for name, fn in hooks.items():
        setattr(ns, name, hookimpl(fn))
    return ns


async def test_exceptions_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def sync_boom(message: Any) -> None:
        raise ValueError("sync boom")

    async def async_boom(message: Any) -> None:
        await trio.lowlevel.checkpoint()
        raise KeyError("async boom")

    def good(message: Any) -> None:
        seen.append(message)

    p = Plugins()
    p.register(make_plugin(message_received=good), "good")  # registered first, so called last
    p.register(make_plugin(message_received=async_boom), "async_boom")
    p.register(make_plugin(message_received=sync_boom), "sync_boom")
    with caplog.at_level(logging.ERROR, logger="waporta.plugins"):
        await p.message_received(HUB, "s", "hello")
    assert seen == ["hello"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "plugin 'sync_boom': hook message_received raised",
        "plugin 'async_boom': hook message_received raised",
    ]
    assert all(r.name == "waporta.plugins" and r.exc_info for r in caplog.records)


async def test_async_impls_time_out_each_under_its_own_budget(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    finished: list[str] = []

    async def slow(session_id: str) -> None:
        await trio.sleep(3600)
        finished.append("slow")

    async def quick(session_id: str) -> None:
        await trio.sleep(1)
        finished.append("quick")

    p = Plugins(hook_timeout=5.0)
    p.register(make_plugin(session_status_changed=quick), "quick")
    p.register(make_plugin(session_status_changed=slow), "slow")
    start = trio.current_time()
    with caplog.at_level(logging.ERROR, logger="waporta.plugins"):
        await p.session_status_changed(HUB, "s", "connected")
    assert finished == ["quick"]
    assert trio.current_time() - start == pytest.approx(6.0)  # 5 s budget for slow, then 1 s for quick
    assert [r.getMessage() for r in caplog.records] == ["plugin 'slow': hook session_status_changed timed out after 5s"]


async def test_load_takes_the_timeout_from_config(autojump_clock: trio.testing.MockClock) -> None:
    p = Plugins.load(Config(plugins=PluginsConfig(hook_timeout=0.25)), entry_points=False)
    assert p.hook_timeout == 0.25

    async def stuck() -> None:
        await trio.sleep_forever()

    p.register(make_plugin(waporta_shutdown=stuck), "stuck")
    start = trio.current_time()
    await p.shutdown(HUB)
    assert trio.current_time() - start == pytest.approx(0.25)


async def test_outer_cancellation_is_not_swallowed(autojump_clock: trio.testing.MockClock) -> None:
    async def sleeper() -> None:
        await trio.sleep(100)

    p = Plugins(hook_timeout=1000)
    p.register(make_plugin(waporta_startup=sleeper), "sleeper")
    with trio.move_on_after(1) as scope:
        await p.startup(HUB)
    assert scope.cancelled_caught


def test_register_routes_failure_names_the_plugin() -> None:
    def broken(app: Any) -> None:
        raise RuntimeError("no\nroutes")

    p = Plugins()
    p.register(make_plugin(register_routes=broken), "routes_plugin")
    with pytest.raises(PluginError) as info:
        p.register_routes(HUB, FakeApp())  # type: ignore[arg-type]
    assert str(info.value) == "plugin 'routes_plugin': register_routes failed: RuntimeError: no routes"


def test_register_routes_returning_an_awaitable_is_an_error() -> None:
    async def later() -> None:
        pass

    def sneaky() -> Any:
        return later()

    p = Plugins()
    p.register(make_plugin(register_routes=sneaky), "sneaky")
    with pytest.raises(PluginError, match="returned an awaitable"):
        p.register_routes(HUB, FakeApp())  # type: ignore[arg-type]


# ---------------------------------------------------------------- send_retry_policy


def policy(*answers: Callable[..., Any]) -> Plugins:
    p = Plugins()
    for i, answer in enumerate(answers):
        p.register(make_plugin(send_retry_policy=answer), f"policy{i}")
    return p  # the last one given is registered last, so asked first


def test_retry_policy_without_plugins_gives_up() -> None:
    assert Plugins().send_retry_policy(HUB, "s", 1, RuntimeError()) is None


def test_retry_policy_args_and_first_answer_wins() -> None:
    seen: list[tuple[str, int, str]] = []

    def builtin(attempt: int) -> float:
        return 2.0**attempt

    def user(session_id: str, attempt: int, error: BaseException) -> float | None:
        seen.append((session_id, attempt, str(error)))
        return None if attempt < 3 else 0

    p = policy(builtin, user)
    assert p.send_retry_policy(HUB, "s9", 1, RuntimeError("x")) == 2.0
    result = p.send_retry_policy(HUB, "s9", 3, RuntimeError("y"))
    assert result == 0.0
    assert isinstance(result, float)
    assert seen == [("s9", 1, "x"), ("s9", 3, "y")]


def test_retry_policy_inf_gives_up() -> None:
    assert policy(lambda: 1.0, lambda: float("inf")).send_retry_policy(HUB, "s", 1, RuntimeError()) is None


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_retry_policy_invalid_answer_gives_up(bad: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="waporta.plugins"):
        assert policy(lambda: 1.0, lambda: bad).send_retry_policy(HUB, "s", 1, RuntimeError()) is None
    assert "giving up" in caplog.records[0].getMessage()


def test_retry_policy_exception_counts_as_no_opinion(caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> float:
        raise ZeroDivisionError

    with caplog.at_level(logging.ERROR, logger="waporta.plugins"):
        assert policy(lambda: 7, boom).send_retry_policy(HUB, "s", 1, RuntimeError()) == 7.0
    assert caplog.records[0].getMessage() == "plugin 'policy1': send_retry_policy raised; treated as no opinion"


def test_retry_policy_awaitable_answer_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    async def later() -> float:
        return 1.0

    with caplog.at_level(logging.ERROR, logger="waporta.plugins"):
        assert policy(lambda: 4, lambda: later()).send_retry_policy(HUB, "s", 1, RuntimeError()) == 4.0
    assert "returned an awaitable" in caplog.records[0].getMessage()


async def test_a_toml_named_plugin_adds_a_working_route(tmp_path: Path) -> None:
    from quart_trio import QuartTrio

    make_module(
        tmp_path,
        "hello_route",
        """
        from waporta import hookimpl

        @hookimpl
        def register_routes(hub, app):
            @app.get("/hello")
            async def hello():
                return {"hello": "world", "hub": hub is not None}
        """,
    )
    config = config_with(tmp_path, '[plugins]\nmodules = ["hello_route.py"]\n')
    app = QuartTrio(__name__)
    Plugins.load(config, entry_points=False).register_routes(HUB, app)
    response = await app.test_client().get("/hello")
    assert response.status_code == 200
    assert await response.get_json() == {"hello": "world", "hub": True}
