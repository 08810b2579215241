"""Calling plugin hooks so that a crash names the plugin that crashed.

pluggy re-raises an implementation's exception as is: it says neither which plugin raised nor
which distribution it came from. The host wants a :class:`~orchestra_core.PluginError`
naming both, so:

- :func:`call_hook` calls the hook through pluggy (every implementation, in pluggy's order,
  wrappers, tracing and monitoring included) and, when it raises, finds the implementation
  whose code raised in the traceback (:func:`culprit`).
- :func:`call_register` calls a register hook one implementation at a time, because the
  registries record which plugin registered each name (``registry.current_plugin``) and one
  pluggy call runs every implementation without saying whose turn it is. It uses pluggy's
  public :meth:`~pluggy.HookCaller.get_hookimpls` and each :class:`~pluggy.HookImpl`'s
  ``function`` and ``argnames``, in the order pluggy would call them.

:class:`PluginManager` is pluggy's, finding a module plugin's implementations faster.
"""

from __future__ import annotations

import inspect
import types
from types import CodeType
from typing import Any

import pluggy

from ._errors import PluginError

__all__ = ("PluginManager", "call_caller", "call_hook", "call_register", "culprit",
           "distribution", "plugin_error")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, reading a module plugin's attributes from its ``__dict__``.

    pluggy looks every attribute of a plugin up with ``inspect.getattr_static``, so that a
    property is never evaluated; a module has none, and only its plain functions (or the
    method objects it holds, left to pluggy) can be implementations: the same answer, four
    times faster (most of a plugin module's names are what it imported)."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        """The hookimpl options of *plugin*'s attribute *name*, or ``None``."""
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name)
            if inspect.isfunction(value):
                opts = getattr(value, self.project_name + "_impl", None)
                return opts if isinstance(opts, dict) else None
            if not isinstance(value, (staticmethod, classmethod, types.MethodType)):
                return None
        return super().parse_hookimpl_opts(plugin, name)


def call_hook(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Any:
    """``pm.hook.<hook_name>(**kwargs)``: the list of non-``None`` results (the result, for a
    ``firstresult`` hook). A crash becomes a :class:`PluginError` naming the plugin; a
    :class:`PluginError` raised by a plugin passes through."""
    return call_caller(pm, getattr(pm.hook, hook_name), hook_name, **kwargs)


def call_caller(pm: pluggy.PluginManager, caller: pluggy.HookCaller, hook_name: str, /,
                **kwargs: Any) -> Any:
    """:func:`call_hook` through *caller*, a caller of hook *hook_name* (e.g. one of
    :meth:`pluggy.PluginManager.subset_hook_caller`, which leaves some plugins out)."""
    try:
        return caller(**kwargs)
    except PluginError:
        raise
    except Exception as exc:
        impl = culprit(caller, exc)
        raise plugin_error(pm, impl.plugin if impl else None,
                           impl.plugin_name if impl else None, hook_name, exc) from exc


def call_register(pm: pluggy.PluginManager, hook_name: str, registry: Any) -> None:
    """Call register hook *hook_name* with *registry*, one implementation at a time (see the
    module docstring), setting ``registry.current_plugin`` to the implementing plugin's name.

    :raises PluginError: when an implementation crashes (naming it), or is a wrapper (a
        register hook is not called through pluggy's wrapper chain).
    """
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            raise plugin_error(pm, impl.plugin, impl.plugin_name, hook_name,
                               TypeError("register hooks cannot be wrappers"))
        registry.current_plugin = impl.plugin_name
        try:
            impl.function(**{arg: registry for arg in impl.argnames})
        except PluginError:
            raise
        except Exception as exc:
            raise plugin_error(pm, impl.plugin, impl.plugin_name, hook_name, exc) from exc
        finally:
            registry.current_plugin = ""


def culprit(caller: pluggy.HookCaller, exc: BaseException) -> pluggy.HookImpl | None:
    """The implementation of *caller* that raised *exc*: the outermost traceback frame running
    one of the implementations' functions (``None`` when no frame does, e.g. pluggy itself
    refused the call). Implementations sharing a function (two instances of one plugin class)
    are told apart by the frame's first argument."""
    by_code: dict[CodeType, list[pluggy.HookImpl]] = {}
    for impl in caller.get_hookimpls():
        code = getattr(inspect.unwrap(impl.function), "__code__", None)
        if isinstance(code, CodeType):
            by_code.setdefault(code, []).append(impl)
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        impls = by_code.get(code)
        if impls:
            first = tb.tb_frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
            return next((i for i in impls if getattr(i.function, "__self__", None) is first),
                        impls[0])
        tb = tb.tb_next
    return None


def plugin_error(pm: pluggy.PluginManager, plugin: object, name: str | None, hook_name: str,
                 exc: BaseException) -> PluginError:
    """The :class:`PluginError` for plugin *plugin* (called *name*) failing in *hook_name*
    with *exc*; *exc* itself when it is one."""
    if isinstance(exc, PluginError):
        return exc
    dist = distribution(pm, plugin) if plugin is not None else None
    who = f"plugin {name!r}" + (f" ({dist})" if dist else "") if name else "a plugin"
    return PluginError(f"{who} failed in {hook_name}: {type(exc).__name__}: {exc}",
                       distribution=dist)


def distribution(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """The name of the distribution *plugin* was loaded from (entry points only)."""
    for plug, dist in pm.list_plugin_distinfo():
        if plug is plugin:
            return dist.project_name
    return None
