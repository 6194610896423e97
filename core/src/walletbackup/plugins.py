"""Plugin loading: entry points in the ``walletbackup`` group, each loaded and checked on its own.

A plugin that fails to import, whose hook raises, that implements a hook that does not exist
(a misspelt name, caught by ``check_pending``) or that registers an invalid item is *broken*: it is
unregistered, contributes nothing, is logged on ``walletbackup.plugins`` and listed by
:func:`broken_plugins`; every other plugin keeps working. Loading never raises.

Every registered item is attributed to its distribution, because each plugin's ``register_*``
hooks are called alone with their own ``register`` callback. A name registered by two
distributions belongs to neither: asking for it raises :class:`PluginError` naming both, and the
conflict is listed among the broken plugins; other names keep working.

``WALLETBACKUP_PLUGINS`` limits which entry points load: unset loads all, a comma-separated list
loads those entry-point names, an empty value loads none. The core's own stores and ``local`` KMS
(distribution ``walletbackup``) are always registered, before any entry point.
"""

from __future__ import annotations

import copy
import difflib
import importlib.metadata
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import pluggy

from . import hookspecs
from .errors import MethodUnavailable, PluginError
from .kms import KmsProvider
from .methods import BackupMethod
from .stores.base import Store

ENV_VAR = "WALLETBACKUP_PLUGINS"
CORE_DISTRIBUTION = "walletbackup"
METHOD_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
#: Method names the core keeps for itself ("kms" is the custodian envelope's stanza type).
RESERVED_METHOD_NAMES = frozenset({"kms"})

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registered item (a method, store or KMS class) and the plugin that supplied it."""

    value: T
    name: str
    plugin: str
    distribution: str
    version: str


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its entry-point name, distribution, hooks and what it registered."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    methods: tuple[str, ...]
    stores: tuple[str, ...]
    kms: tuple[str, ...]


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to load (or a name it shares with another plugin), and why."""

    distribution: str
    version: str
    name: str
    error: str


@dataclass(frozen=True)
class _Kind:
    hook: str
    label: str
    base: type
    attribute: str
    pattern: re.Pattern[str]
    reserved: frozenset[str] = frozenset()

    def key_of(self, item: object) -> str:
        """The item's name (or scheme), raising :class:`PluginError` when the item is invalid."""
        if not (isinstance(item, type) and issubclass(item, self.base)):
            raise PluginError(
                f"{self.hook} got {item!r}, which is not a {self.base.__name__} subclass"
            )
        if inspect.isabstract(item):
            raise PluginError(f"{self.hook} got {item.__name__}, which is abstract")
        key = getattr(item, self.attribute, None)
        if not isinstance(key, str) or not self.pattern.fullmatch(key):
            raise PluginError(
                f"{self.hook} got {item.__name__} with {self.attribute} {key!r}; "
                f"it must match {self.pattern.pattern}"
            )
        if key in self.reserved:
            raise PluginError(
                f"{self.hook} got {item.__name__}: {self.attribute} {key!r} is reserved"
            )
        return key


_METHODS = _Kind(
    "register_backup_methods",
    "backup method",
    BackupMethod,
    "name",
    METHOD_NAME,
    RESERVED_METHOD_NAMES,
)
_STORES = _Kind("register_stores", "store", Store, "scheme", SCHEME)
_KMS = _Kind("register_kms_providers", "KMS provider", KmsProvider, "scheme", SCHEME)
_KINDS = (_METHODS, _STORES, _KMS)


@dataclass
class _State:
    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    #: Entry points left out by WALLETBACKUP_PLUGINS: name -> distribution.
    disabled: dict[str, str] = field(default_factory=dict)
    registries: dict[str, dict[str, Registered[Any]]] = field(default_factory=dict)
    #: (hook, name) -> every registration of a name claimed by more than one distribution.
    conflicts: dict[tuple[str, str], list[Registered[Any]]] = field(default_factory=dict)


# Reentrant, so a plugin that asks for a registry while it is being imported gets a PluginError
# (see _loaded) instead of a deadlock.
_lock = threading.RLock()
_state: _State | None = None
_loading = False


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, with the core and every enabled, working plugin registered."""
    return _loaded().pm


def reset_plugins() -> None:
    """Forget loaded plugins; the next call loads them again (for tests)."""
    global _state  # noqa: PLW0603 - the one lazily built, process-wide plugin state
    with _lock:
        _state = None


def method_registry() -> Mapping[str, Registered[type[BackupMethod]]]:
    """Backup method classes by name (names claimed by two distributions are left out)."""
    return MappingProxyType(_loaded().registries[_METHODS.hook])


def store_registry() -> Mapping[str, Registered[type[Store]]]:
    """Store classes by URL scheme."""
    return MappingProxyType(_loaded().registries[_STORES.hook])


def kms_registry() -> Mapping[str, Registered[type[KmsProvider]]]:
    """KMS provider classes by URL scheme."""
    return MappingProxyType(_loaded().registries[_KMS.hook])


def get_method(name: str) -> type[BackupMethod]:
    """The backup method class registered as ``name``.

    Raises :class:`MethodUnavailable` when no plugin provides it (naming the distribution to
    install), and :class:`PluginError` when two distributions claim it or its plugin is broken.
    """
    state = _loaded()
    found = state.registries[_METHODS.hook].get(name)
    if found is not None:
        method: type[BackupMethod] = found.value
        return method
    conflict = state.conflicts.get((_METHODS.hook, name))
    if conflict is not None:
        raise PluginError(_conflict_message(_METHODS, name, conflict))
    if not METHOD_NAME.fullmatch(name):
        raise MethodUnavailable(f"{name!r} is not a valid backup method name")
    for broken in state.broken:
        if broken.name == name:
            raise PluginError(
                f"backup method {name!r} is unavailable: plugin {broken.name!r} "
                f"({broken.distribution} {broken.version}) is broken: {broken.error}"
            )
    if name in state.disabled:
        raise MethodUnavailable(
            f"backup method {name!r} is not loaded: {ENV_VAR}={os.environ.get(ENV_VAR, '')!r} "
            f"leaves out plugin {name!r} ({state.disabled[name]}); add {name!r} to it"
        )
    raise MethodUnavailable(
        f"no backup method named {name!r} is installed; install it with: "
        f"pip install walletbackup-{name}"
    )


def get_store(scheme: str) -> type[Store]:
    """The store class for URL ``scheme``; :class:`PluginError` when two distributions claim it."""
    store: type[Store] = _by_scheme(_STORES, scheme)
    return store


def get_kms(scheme: str) -> type[KmsProvider]:
    """The KMS provider class for URL ``scheme``; :class:`PluginError` when claimed twice."""
    kms: type[KmsProvider] = _by_scheme(_KMS, scheme)
    return kms


def installed_plugins() -> list[PluginInfo]:
    """Every loaded plugin, the core (distribution ``walletbackup``) first."""
    return list(_loaded().plugins.values())


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed to load, then names claimed by more than one distribution."""
    state = _loaded()
    conflicts = [
        BrokenPlugin(
            later.distribution,
            later.version,
            later.plugin,
            _conflict_message(_kind(hook), name, claims),
        )
        for (hook, name), claims in state.conflicts.items()
        for later in claims[1:]
    ]
    return [*state.broken, *conflicts]


def emit_audit(event: dict[str, Any]) -> None:
    """Give ``event`` to every ``audit_event`` hook; a failing sink is logged, never raised."""
    state = _loaded()
    for impl in state.pm.hook.audit_event.get_hookimpls():
        try:
            # Each sink gets its own copy: one sink cannot change what the next one sees.
            _call_alone(state.pm, "audit_event", impl.plugin, event=copy.deepcopy(event))
        except Exception as exc:
            logger.warning("audit sink of plugin %r failed: %s", impl.plugin_name, _describe(exc))


def register_commands(cli: object) -> None:
    """Let every plugin add its CLI commands to ``cli``; a failing plugin is logged and skipped."""
    state = _loaded()
    for impl in state.pm.hook.register_commands.get_hookimpls():
        try:
            _call_alone(state.pm, "register_commands", impl.plugin, cli=cli)
        except Exception as exc:
            logger.warning(
                "plugin %r could not add its commands: %s", impl.plugin_name, _describe(exc)
            )


def _by_scheme(kind: _Kind, scheme: str) -> Any:
    state = _loaded()
    found = state.registries[kind.hook].get(scheme)
    if found is not None:
        return found.value
    conflict = state.conflicts.get((kind.hook, scheme))
    if conflict is not None:
        raise PluginError(_conflict_message(kind, scheme, conflict))
    known = ", ".join(sorted(state.registries[kind.hook])) or "none"
    raise MethodUnavailable(
        f"no {kind.label} for {scheme!r} URLs is installed (installed: {known})"
    )


def _loaded() -> _State:
    global _state, _loading  # noqa: PLW0603 - see reset_plugins
    with _lock:
        if _loading:
            raise PluginError("a plugin asked for the plugin registries while plugins were loading")
        if _state is None:
            _loading = True
            try:
                _state = _load()
            finally:
                _loading = False
        return _state


def _load() -> _State:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    state = _State(pm, registries={kind.hook: {} for kind in _KINDS})
    dists: dict[str, str] = {}  # plugin name -> "distribution version", to explain name clashes

    def attempt(name: str, distribution: str, version: str, load: Callable[[], object]) -> None:
        try:
            if name in dists:
                raise PluginError(f"entry point name {name!r} is already used by {dists[name]}")
            _add(state, name, distribution, version, load())
            dists[name] = f"{distribution} {version}"
        except Exception as exc:
            error = _describe(exc)
            logger.warning(
                "plugin %r (%s %s) is broken and was not loaded: %s",
                name,
                distribution,
                version,
                error,
            )
            state.broken.append(BrokenPlugin(distribution, version, name, error))

    attempt(CORE_DISTRIBUTION, CORE_DISTRIBUTION, _core_version(), _load_core)
    wanted = _wanted()
    found: set[str] = set()
    for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        distribution, version = _distribution_of(entry_point)
        found.add(entry_point.name)
        if wanted is not None and entry_point.name not in wanted:
            state.disabled[entry_point.name] = distribution
            continue
        attempt(entry_point.name, distribution, version, entry_point.load)
    for missing in sorted((wanted or set()) - found):
        logger.warning(
            "%s names %r, but no installed plugin has that entry point name", ENV_VAR, missing
        )
    return state


def _load_core() -> object:
    from . import core_plugin  # noqa: PLC0415 - the core's stores load with the plugins, not before

    return core_plugin


def _add(state: _State, name: str, distribution: str, version: str, plugin: object) -> None:
    """Register one plugin and collect its items; on any failure it is unregistered again."""
    pm = state.pm
    pm.register(plugin, name=name)
    try:
        _check_pending(pm, plugin)
        items: dict[str, dict[str, Registered[Any]]] = {kind.hook: {} for kind in _KINDS}
        for kind in _KINDS:
            _call_alone(
                pm,
                kind.hook,
                plugin,
                register=_collector(kind, items[kind.hook], name, distribution, version),
            )
    except BaseException:
        pm.unregister(plugin)
        raise
    for kind in _KINDS:
        registry = state.registries[kind.hook]
        for key, registered in items[kind.hook].items():
            conflict = state.conflicts.get((kind.hook, key))
            if conflict is not None:
                conflict.append(registered)
            elif key in registry:
                claims = [registry.pop(key), registered]
                state.conflicts[(kind.hook, key)] = claims
                logger.warning("%s", _conflict_message(kind, key, claims))
            else:
                registry[key] = registered
    state.plugins[name] = PluginInfo(
        name=name,
        distribution=distribution,
        version=version,
        hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())),
        methods=tuple(items[_METHODS.hook]),
        stores=tuple(items[_STORES.hook]),
        kms=tuple(items[_KMS.hook]),
    )


def _collector(
    kind: _Kind, into: dict[str, Registered[Any]], plugin: str, distribution: str, version: str
) -> Callable[[type[Any]], None]:
    def register(item: type[Any]) -> None:
        key = kind.key_of(item)
        previous = into.get(key)
        if previous is not None and previous.value is not item:
            raise PluginError(f"{kind.hook} registers two different {kind.label}s named {key!r}")
        into[key] = Registered(item, key, plugin, distribution, version)

    return register


def _check_pending(pm: pluggy.PluginManager, plugin: object) -> None:
    """Run ``check_pending`` for a just-registered plugin, naming the hook it probably meant."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        known = [name for name in dir(hookspecs) if name.startswith(("register_", "audit_"))]
        unknown = sorted(
            caller.name for caller in pm.get_hookcallers(plugin) or () if caller.spec is None
        )
        hints = []
        for hook in unknown:
            close = difflib.get_close_matches(hook, known, n=1)
            hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise PluginError(f"implements unknown hook(s): {', '.join(hints)}") from None


def _call_alone(pm: pluggy.PluginManager, hook: str, plugin: object, **kwargs: Any) -> None:
    """Call ``hook`` on ``plugin`` only, so failures and registrations stay attributed to it."""
    others = [other for other in pm.get_plugins() if other is not plugin]
    pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)


def _conflict_message(kind: _Kind, name: str, claims: list[Registered[Any]]) -> str:
    owners = [f"{claim.distribution} {claim.version}" for claim in claims]
    listed = f"{', '.join(owners[:-1])} and {owners[-1]}"
    both = "both " if len(owners) == 2 else ""
    return f"{kind.label} {name!r} is registered by {both}{listed}; uninstall one"


def _kind(hook: str) -> _Kind:
    return next(kind for kind in _KINDS if kind.hook == hook)


def _wanted() -> set[str] | None:
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown distribution", "unknown"
    return dist.name, dist.version


def _core_version() -> str:
    try:
        return importlib.metadata.version(CORE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        # Running from a source tree that was never installed.
        return "unknown"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PluginError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "ENV_VAR",
    "BrokenPlugin",
    "PluginInfo",
    "Registered",
    "broken_plugins",
    "emit_audit",
    "get_kms",
    "get_method",
    "get_plugin_manager",
    "get_store",
    "installed_plugins",
    "kms_registry",
    "method_registry",
    "register_commands",
    "reset_plugins",
    "store_registry",
]
