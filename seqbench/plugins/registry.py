"""The plugin registry: loads plugins with pluggy and collects the cells, tasks, metrics,
report formats and commands they register, remembering which plugin provided each.

Plugins come from, in order: the built-in modules (registered exactly like third-party
ones), installed entry points of group ``seqbench``, the ``SEQBENCH_PLUGINS`` environment
variable (comma-separated module paths) and ``-p module.path`` options. ``-p no:NAME`` blocks
a plugin by name. ``SEQBENCH_LOAD_PLUGINS=name1,name2`` loads only those entry points
(set it to the empty string to load none, as the test suite does).

A plugin that fails to import, raises in a registration hook or registers a name that is
already taken is reported in one line and skipped; everything else keeps working. On a taken
name the built-in wins, then a ``-p`` module, then ``SEQBENCH_PLUGINS``, then an entry point.

A factory may be registered as an import path ``"module:attribute"`` (``LazyFactory``): it is
imported only when built or when its parameters are read, so listing names and reporting an
unknown one never import torch. The built-in cells register this way. A cell may also register
its bare sequence mixer, ``register(..., mixer="module:factory")`` with ``factory(d, **options)``
a module mapping (B, T, d) to (B, T, d) with the ``(x, state)`` API: the block backbone
(``--backbone block``, ``seqbench.models.backbone``) puts it in its residual blocks, lazily
imported the same way.

Cells form groups that ``--cells`` accepts next to names (``select_cells``): ``classic`` (the
built-in four), ``modern`` (the cells registered with ``group="modern"``), ``all`` (every cell but the ``*-ref`` references), ``default`` (the cells
registered with ``default=True``: the built-in four unless a plugin opts in; what a run
compares when no cell is named) and every ``group="NAME"`` a cell declares in ``register``.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import pluggy

from seqbench import hookspecs
from seqbench.errors import PluginError, UsageError, unknown_name

BUILTIN_PLUGINS = (
    "seqbench.cells.recurrent",
    "seqbench.cells.transformer",
    "seqbench.cells.reference",
    "seqbench.cells.rglru",
    "seqbench.cells.lru",
    "seqbench.cells.deltanet",
    "seqbench.cells.linattn",
    "seqbench.cells.mingru",
    "seqbench.cells.s6",
    "seqbench.cells.s4d",
    "seqbench.cells.mlstm",
    "seqbench.cells.slstm",
    "seqbench.tasks.adding",
    "seqbench.tasks.copy_memory",
    "seqbench.tasks.selective_copy",
    "seqbench.tasks.associative_recall",
    "seqbench.tasks.in_context_recall",
    "seqbench.tasks.fuzzy_recall",
    "seqbench.tasks.noisy_recall",
    "seqbench.tasks.compression",
    "seqbench.tasks.memorization",
    "seqbench.tasks.markov",
    "seqbench.tasks.charlm",
    "seqbench.tasks.mnist1d",
    "seqbench.tasks.metrics",
    "seqbench.reporting.exports",
    "seqbench.train.curves",
    "seqbench.reporting.html",
    # the commands, in the order ``seqbench --help`` lists them
    *(f"seqbench.commands.{name}" for name in ("run", "horizon", "check", "speed", "list", "plugins", "generate",
                                               "eval", "inspect", "report", "plot", "compare")),
)
# built-in plugins whose hooks live in a torch-free module other than the one they are named after
BUILTIN_HOOKS = {
    "seqbench.cells.recurrent": "seqbench.cells.builtin:Recurrent",
    "seqbench.cells.transformer": "seqbench.cells.builtin:Transformer",
    "seqbench.cells.reference": "seqbench.cells.builtin:Reference",
    "seqbench.cells.rglru": "seqbench.cells.builtin:ModernRGLRU",
    "seqbench.cells.lru": "seqbench.cells.builtin:ModernLRU",
    "seqbench.cells.deltanet": "seqbench.cells.builtin:ModernDeltaNet",
    "seqbench.cells.linattn": "seqbench.cells.builtin:ModernLinAttn",
    "seqbench.cells.mingru": "seqbench.cells.builtin:MinRNN",
    "seqbench.cells.s6": "seqbench.cells.builtin:S6",
    "seqbench.cells.s4d": "seqbench.cells.builtin:S4D",
    "seqbench.cells.mlstm": "seqbench.cells.builtin:MLSTM",
    "seqbench.cells.slstm": "seqbench.cells.builtin:SLSTM",
}
# which provider keeps a name registered twice: the lowest rank (equal ranks: the first)
SOURCE_RANK = {"builtin": 0, "-p": 1, "SEQBENCH_PLUGINS": 2, "entry point": 3}
ENTRY_POINT_GROUP = "seqbench"
# what plugins contribute; kind ``k`` is registered through the hook ``seqbench_register_{k}s``
KINDS = ("cell", "task", "metric", "report_format", "command")
# the cell groups that exist whatever is registered (``classic``: the built-in cells' declared group;
# ``modern``: the group the modern layers declare, so ``--cells modern`` is known even before any is installed)
CELL_GROUPS = ("classic", "modern", "all", "default")
LIFECYCLE_HOOKS = ("seqbench_run_start", "seqbench_trial_start", "seqbench_trial_log",
                   "seqbench_trial_end", "seqbench_run_end")


@dataclass(frozen=True)
class Entry:
    """One registered cell, task, metric, report format or command."""

    kind: str
    name: str
    obj: Any
    provider: str
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class LazyFactory:
    """A factory registered as ``"module:attribute"``: imported on first call or when its
    signature (its parameters) is read; other attributes are read from the target."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._target: Any = None

    def resolve(self) -> Any:
        if self._target is None:
            module, _, attr = self.path.partition(":")
            try:
                self._target = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise PluginError(f"cannot import factory {self.path}: {type(exc).__name__}: {exc}") from None
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.resolve())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def __reduce__(self) -> tuple:
        return LazyFactory, (self.path,)

    def __repr__(self) -> str:
        return f"LazyFactory({self.path!r})"


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    source: str  # builtin | entry point | SEQBENCH_PLUGINS | -p
    location: str
    version: str


def _warn_stderr(message: str) -> None:
    print(f"seqbench: warning: {message}", file=sys.stderr)


class Registry:
    """Loaded plugins and everything they registered."""

    def __init__(
        self,
        plugins: Iterable[str] = (),
        *,
        entry_points: bool = True,
        on_problem: Callable[[str], None] = _warn_stderr,
    ) -> None:
        self.on_problem = on_problem
        self.problems: list[str] = []
        self.pm = pluggy.PluginManager("seqbench")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._disabled: set[tuple[str, str]] = set()

        requested = [p.strip() for p in plugins if p.strip()]
        env_modules = [m.strip() for m in os.environ.get("SEQBENCH_PLUGINS", "").split(",") if m.strip()]
        for spec in requested:
            if spec.startswith("no:"):
                self.pm.set_blocked(spec[3:])
        for module in BUILTIN_PLUGINS:
            self._register_module(module, "builtin", strict=True)
        if entry_points:
            self._load_entry_points()
        for module in env_modules:
            self._register_module(module, "SEQBENCH_PLUGINS", strict=False)
        for spec in requested:
            if not spec.startswith("no:"):
                self._register_module(spec, "-p", strict=True)
        self._drop_unknown_hooks()
        self._collect()

    # ------------------------------------------------------------------ loading

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        self.on_problem(message)

    def _register_module(self, module_name: str, source: str, *, strict: bool) -> None:
        if self.pm.is_blocked(module_name) or self.pm.has_plugin(module_name):
            return
        loaded = sys.modules.get(module_name)
        if loaded is not None and self.pm.is_registered(loaded):
            return  # already loaded under its entry-point name (e.g. -p for an installed plugin)
        try:
            module = _import_hooks(module_name) if source == "builtin" else _import(module_name, from_cwd=True)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            message = f"plugin '{module_name}' ({source}) failed to import: {type(exc).__name__}: {exc}"
            if strict:
                raise UsageError(message) from None
            self._problem(message)
            return
        self._add(module, module_name, source, _module_version(module))

    def _load_entry_points(self) -> None:
        only = os.environ.get("SEQBENCH_LOAD_PLUGINS")
        wanted = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001
                self._problem(f"plugin '{ep.name}' (entry point {ep.value}) failed to import: "
                              f"{type(exc).__name__}: {exc}")
                continue
            version = ep.dist.version if ep.dist is not None else "?"
            self._add(plugin, ep.name, "entry point", version)

    def _add(self, plugin: Any, name: str, source: str, version: str) -> None:
        if self.pm.is_registered(plugin):
            return  # the same module under a second name (two entry points, -p and an entry point)
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - e.g. a hook with a wrong signature
            self._problem(f"plugin '{name}' could not be registered: {exc}")
            return
        location = getattr(plugin, "__file__", None) or repr(plugin)
        self.plugins[name] = PluginInfo(name, source, location, version)

    def _drop_unknown_hooks(self) -> None:
        """Unregister plugins implementing a hook that is not in hookspecs.py (likely a typo)."""
        for hook_name in dir(self.pm.hook):
            caller = getattr(self.pm.hook, hook_name)
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                self._problem(f"plugin '{impl.plugin_name}' implements unknown hook '{hook_name}'; "
                              "plugin skipped (see seqbench/hookspecs.py)")
                self.pm.unregister(name=impl.plugin_name)
                self.plugins.pop(impl.plugin_name, None)
        self.pm.check_pending()

    def _collect(self) -> None:
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"seqbench_register_{kind}s")
            # get_hookimpls() is in registration order: built-ins first, so a third-party
            # plugin reusing a built-in name is the one reported and skipped.
            for impl in hook.get_hookimpls():
                staged: list[Entry] = []

                def register(name: str, obj: Any, *args: Any, description: str = "",
                             _kind: str = kind, _staged: list = staged,
                             _provider: str = impl.plugin_name, **extra: Any) -> None:
                    _staged.append(_make_entry(_kind, name, obj, _provider, description, args, extra))

                try:
                    impl.function(register)
                except Exception as exc:  # noqa: BLE001
                    self._problem(f"plugin '{impl.plugin_name}' raised in "
                                  f"seqbench_register_{kind}s: {type(exc).__name__}: {exc}")
                    continue
                for entry in staged:
                    taken = self.entries[kind].get(entry.name)
                    if taken is not None:
                        keep, drop = (entry, taken) if self._rank(entry) < self._rank(taken) else (taken, entry)
                        self._problem(f"{kind} '{entry.name}' is registered by both {self._who(taken)} "
                                      f"and {self._who(entry)}; keeping '{keep.provider}'")
                        if keep is taken:
                            continue
                    self.entries[kind][entry.name] = entry
        self._check_cell_groups()

    def _check_cell_groups(self) -> None:
        """Report and ignore a declared group that is ``all``, ``default``, a built-in cell's name or,
        from a plugin, ``classic`` (the built-in cells); then report and skip any cell named like a group."""
        for name, entry in list(self.cells.items()):
            group = entry.extra.get("group")
            if group is None:
                continue
            builtin_cell = group in self.cells and self._source(self.cells[group]) == "builtin"
            if builtin_cell or group in ("all", "default") or (group == "classic" and self._source(entry) != "builtin"):
                hint = "; register it with default=True instead" if group == "default" else ""
                self._problem(f"cell '{name}' of {self._who(entry)} declares group '{group}', which is "
                              f"{'a built-in cell' if builtin_cell else 'reserved'}; group ignored{hint}")
                self.cells[name] = replace(entry, extra={k: v for k, v in entry.extra.items() if k != "group"})
        groups = self.cell_groups()
        for name in [n for n in self.cells if n in groups]:
            self._problem(f"cell '{name}' of {self._who(self.cells[name])} has the name of a cell group "
                          f"(--cells {name}); cell skipped")
            del self.cells[name]

    def _source(self, entry: Entry) -> str:
        info = self.plugins.get(entry.provider)
        return info.source if info else ""

    def _rank(self, entry: Entry) -> int:
        info = self.plugins.get(entry.provider)
        return SOURCE_RANK.get(info.source, len(SOURCE_RANK)) if info else len(SOURCE_RANK)

    def _who(self, entry: Entry) -> str:
        source = self._source(entry)
        return f"'{entry.provider}'" + (f" ({source})" if source and source != "builtin" else "")

    # ------------------------------------------------------------------ lookup

    @property
    def cells(self) -> dict[str, Entry]:
        return self.entries["cell"]

    def default_cells(self) -> list[str]:
        """The cells a run compares when none are named: those registered with ``default=True``
        (the built-in rnn, lstm, gru and transformer; a plugin's cells only where it opts in)."""
        return [name for name, entry in self.cells.items() if entry.extra.get("default")]

    def cell_groups(self) -> dict[str, list[str]]:
        """Each cell group's members in registration order: ``classic``, ``all`` (every cell
        except the reference implementations, those with a ``fused_twin``), ``default`` and
        every group a cell declares with ``group="NAME"``."""
        groups: dict[str, list[str]] = {group: [] for group in CELL_GROUPS}
        groups["default"] = self.default_cells()
        for name, entry in self.cells.items():
            if "fused_twin" not in entry.extra:
                groups["all"].append(name)
            if entry.extra.get("group") is not None:
                groups.setdefault(entry.extra["group"], []).append(name)
        return groups

    def select_cells(self, names: Optional[Iterable[str]]) -> list[str]:
        """``--cells`` (as ``config.parse_names`` reads it): cell names and group names
        (``classic``, ``mingru``) → cell names, groups expanded in place, order kept, duplicates
        dropped; None → the default set. Unknown names are left for ``get`` to report."""
        if isinstance(names, str):
            raise TypeError("select_cells takes a list of names: parse a comma-separated string with config.parse_names")
        names = ["default"] if names is None else list(names)
        groups = self.cell_groups()
        chosen = [member for name in names for member in (groups[name] if name in groups else [name])]
        if not chosen:
            empty = [name for name in names if name in groups]
            raise UsageError(f"cell group '{empty[0]}' has no cells: name cells with --cells (seqbench list shows them)")
        return list(dict.fromkeys(chosen))

    @property
    def tasks(self) -> dict[str, Entry]:
        return self.entries["task"]

    @property
    def metrics(self) -> dict[str, Entry]:
        return self.entries["metric"]

    @property
    def report_formats(self) -> dict[str, Entry]:
        return self.entries["report_format"]

    @property
    def commands(self) -> dict[str, Entry]:
        return self.entries["command"]

    def get(self, kind: str, name: str) -> Entry:
        """The entry ``name`` of ``kind``; an unknown name raises a UsageError with a suggestion."""
        try:
            return self.entries[kind][name]
        except KeyError:
            error = unknown_name(kind.replace("_", " "), name, self.entries[kind])
        if kind in ("cell", "task"):
            error = UsageError(f"{error}{plugin_hint(kind, name, self.entries[kind])}")
        raise error

    def contributions(self, plugin_name: str) -> dict[str, list[str]]:
        """What a loaded plugin contributes: the names it registered by kind (``cell``,
        ``task``, ``metric``, ``report_format``, ``command``) and the lifecycle hooks it implements
        (``hook``), leaving out empty kinds."""
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            names = [e.name for e in self.entries[kind].values() if e.provider == plugin_name]
            if names:
                out[kind] = names
        hooks = [h.removeprefix("seqbench_") for h in self.hooks_of(plugin_name) if h in LIFECYCLE_HOOKS]
        if hooks:
            out["hook"] = hooks
        return out

    # ------------------------------------------------------------------ lifecycle hooks

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook on every plugin, isolating failures.

        A plugin whose implementation raises is reported once and not called again for that
        hook; the run goes on.
        """
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            key = (impl.plugin_name, hook_name)
            if key in self._disabled:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001
                self._disabled.add(key)
                self._problem(f"plugin '{impl.plugin_name}' raised in {hook_name}: "
                              f"{type(exc).__name__}: {exc}; hook disabled for this run")

    def hooks_of(self, plugin_name: str) -> list[str]:
        """Names of the hooks a loaded plugin implements."""
        plugin = self.pm.get_plugin(plugin_name)
        return sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])


def plugin_hint(kind: str, name: str, known: Iterable[str]) -> str:
    """For an unknown cell or task: ``-p MODULE`` naming a module of the current directory that
    registers ``name`` when there is one, a general mention of ``-p`` when no known name is close."""
    import difflib

    quoted = (f'"{name}"', f"'{name}'")
    try:
        candidates = sorted(Path.cwd().glob("*.py"))[:200]
    except OSError:
        candidates = []
    for path in candidates:
        try:
            if path.stat().st_size > 1_000_000:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if f"seqbench_register_{kind}s" in text and any(q in text for q in quoted):
            return f"; {path.name} in the current directory registers it: add -p {path.stem}"
    if difflib.get_close_matches(name, list(known), n=1, cutoff=0.5):
        return ""
    return f"; a plugin's {kind}? install the plugin or load its module with -p MODULE"


def _import_hooks(module_name: str) -> Any:
    """A built-in plugin's hooks: its module, or the object ``BUILTIN_HOOKS`` names for it."""
    target = BUILTIN_HOOKS.get(module_name)
    if target is None:
        return importlib.import_module(module_name)
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _import(module_name: str, from_cwd: bool) -> Any:
    """Import a plugin module; -p and SEQBENCH_PLUGINS modules may also live in the current
    directory (as with ``python -m``), even when seqbench runs as a console script."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        top = module_name.split(".")[0]
        if not from_cwd or exc.name != top or cwd in sys.path or "" in sys.path:
            raise
        sys.path.insert(0, cwd)
        return importlib.import_module(module_name)


def _make_entry(kind: str, name: Any, obj: Any, provider: str, description: str,
                args: tuple, extra: dict) -> Entry:
    if not isinstance(name, str) or not name or "," in name or name != name.strip():
        raise PluginError(f"invalid {kind} name {name!r}: use a non-empty name without commas or spaces")
    if isinstance(obj, str) and ":" in obj:
        obj = LazyFactory(obj)
    if not callable(obj):
        raise PluginError(f"{kind} '{name}': {obj!r} is not callable")
    if kind == "command":  # register(name, add_arguments, run, help="", description="")
        if len(args) != 1 or not callable(args[0]):
            raise PluginError(f"command '{name}': register(name, add_arguments, run) is required")
        obj, extra = args[0], {"add_arguments": obj, "help": extra.pop("help", ""), **extra}
    elif kind == "metric":
        if args:
            extra = {"higher_is_better": args[0], **extra}
        if "higher_is_better" not in extra:
            raise PluginError(f"metric '{name}': register(name, fn, higher_is_better) is required")
        extra["higher_is_better"] = bool(extra["higher_is_better"])
    elif args:
        raise PluginError(f"{kind} '{name}': unexpected positional arguments {args!r}")
    if kind == "report_format":
        extra.setdefault("suffix", ".txt")
    if kind == "cell":
        if not isinstance(extra.get("default", False), bool):
            raise PluginError(f"cell '{name}': default must be True or False, got {extra['default']!r}")
        if isinstance(extra.get("mixer"), str) and ":" in extra["mixer"]:
            extra["mixer"] = LazyFactory(extra["mixer"])
        if "mixer" in extra and not callable(extra["mixer"]):
            raise PluginError(f"cell '{name}': mixer {extra['mixer']!r} is not callable (give a factory or "
                              "'module:attribute')")
        group = extra.get("group")
        if group is not None and (not isinstance(group, str) or not group or "," in group or group != group.strip()):
            raise PluginError(f"cell '{name}': invalid group {group!r}: use a non-empty name without commas or spaces")
    return Entry(kind, name, obj, provider, description, dict(extra))


def _module_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    top = (getattr(module, "__name__", "") if inspect.ismodule(module) else getattr(module, "__module__", "")).split(".")[0]
    if top == "seqbench":
        from seqbench._version import __version__

        return __version__
    try:
        return metadata.version(top)
    except metadata.PackageNotFoundError:
        return "?"
