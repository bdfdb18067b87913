"""Checking a config before anything runs: ``--cfg-options`` keys that name nothing, and
``type`` names that nothing registered answers to (a typo would otherwise be silently added,
or fail deep inside a build)."""
import copy
import difflib
import inspect
from typing import Any, Mapping, Optional

from mmengine.config import Config


class ConfigKeyError(KeyError):
    """A ``--cfg-options`` key names nothing in the config."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_cfg_options(cfg: Config, options: Mapping[str, Any]) -> None:
    """Refuse ``--cfg-options`` keys that do not exist in the config.

    mmengine silently adds unknown keys, so a typo such as ``train_cfg.max_epoch=2`` would
    train with the old value. Only the last component of a key may be new: in a registered
    part (a dict with ``type``) when the part's class accepts it as an argument
    (``train_dataloader.dataset.indices=16``), in a plain dict always (optional settings such
    as ``train_cfg.val_begin=3``).

    Raises:
        ConfigKeyError: naming the key and the closest existing keys.
    """
    tree = cfg.to_dict()
    for key in options:
        node: Any = tree
        parts = key.split('.')
        for depth, part in enumerate(parts):
            is_last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if isinstance(node, Mapping) and part in node:
                node = node[part]
                continue
            if is_last and isinstance(node, Mapping) and _accepts_new_key(node, part):
                break
            prefix = '.'.join(parts[:depth])
            choices = list(node.keys()) if isinstance(node, Mapping) else []
            close = difflib.get_close_matches(part, choices, n=3)
            hint = f'; did you mean {", ".join(close)}?' if close else ''
            where = f'under "{prefix}"' if prefix else 'at the top level'
            raise ConfigKeyError(f'--cfg-options: unknown key "{key}": no "{part}" {where} '
                                 f'of {cfg.filename or "the config"}{hint}')


def _accepts_new_key(node: Mapping, key: str) -> bool:
    """Whether a config dict may get a new ``key``: a plain dict always; a registered part
    when its class's ``__init__`` (or a base's, through ``**kwargs``) takes ``key``, or when
    the class cannot be found (a type registered by a module not imported yet)."""
    if 'type' not in node:
        return True
    cls = node['type'] if isinstance(node['type'], type) else _find_registered(node['type'])
    if cls is None:
        return True
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters
        if key in params:
            return True
        if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return True


def _find_registered(type_name: str) -> Optional[type]:
    import mmaction.registry as registries
    from mmengine.registry import Registry
    for registry in vars(registries).values():
        if isinstance(registry, Registry):
            try:
                cls = registry.get(type_name)
            except (KeyError, ImportError):
                cls = None
            if isinstance(cls, type):
                return cls
    return None


class ConfigTypeError(KeyError):
    """A ``type`` in the config names nothing registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_cfg_types(cfg: Config) -> None:
    """Refuse a config whose parts name a ``type`` that no registry holds, naming its key.

    mmengine reports an unknown type only when the part is built (for a dataset, when
    training starts; for a nested part, inside its parent's constructor), naming the value but
    not where it is in the config. Every ``type`` string is looked up as a build would: in the
    registries of the config's ``default_scope`` (or of the nearest ``_scope_`` above it) and
    their parents, after importing ``custom_imports``. Scoped names (``mmdet.L1Loss``) and
    scopes that cannot be imported are left to the build.

    Raises:
        ConfigTypeError: naming the key (``model.backbone.type``), the value and the closest
            registered names.
    """
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    default_scope = cfg.get('default_scope') or 'mmaction'
    for key, name, scope in _type_entries(cfg.to_dict(), '', default_scope):
        registries = _scope_registries(scope)
        if '.' in name or not registries or _registered(registries, name):
            continue
        known = sorted({n for r in registries for reg in _with_parents(r)
                        for n in reg.module_dict})
        close = difflib.get_close_matches(name, known, n=3)
        hint = f'; did you mean {", ".join(close)}?' if close else '.'
        raise ConfigTypeError(f'{cfg.filename or "config"}: {key}={name!r} is not a '
                              f'registered type (scope {scope!r}){hint} A type registered by '
                              'a module of yours needs that module in custom_imports.')


def _scope_registries(scope: str) -> list:
    import importlib

    from mmengine.registry import Registry
    try:
        module = importlib.import_module(f'{scope}.registry')
    except ImportError:
        return []
    return [r for r in vars(module).values() if isinstance(r, Registry)]


def _type_entries(node: Any, path: str, scope: str):
    """(key, type name, scope) of every ``type`` string in a config tree."""
    if isinstance(node, Mapping):
        scope = node.get('_scope_', scope) if isinstance(node.get('_scope_'), str) else scope
        for key, value in node.items():
            child = f'{path}.{key}' if path else str(key)
            if key == 'type' and isinstance(value, str):
                yield child, value, scope
            else:
                yield from _type_entries(value, child, scope)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _type_entries(value, f'{path}.{index}', scope)


def _with_parents(registry) -> list:
    chain = []
    while registry is not None:
        chain.append(registry)
        registry = registry.parent
    return chain


def _registered(registries: list, name: str) -> bool:
    for registry in registries:
        try:
            if registry.get(name) is not None:
                return True
        except Exception:  # noqa: BLE001  (mmaction2's FUNCTION registry cannot import its
            continue       # own locations; a lookup error is not a registration)
    return False


class ConfigValueError(ValueError):
    """A ``--cfg-options`` value cannot be merged at its key."""


def load_config(path: str, cfg_options: Optional[Mapping[str, Any]] = None) -> Config:
    """Read a config and merge ``--cfg-options`` into it after checking their keys.

    Raises:
        ConfigKeyError: a key names nothing in the config (:func:`check_cfg_options`).
        ConfigValueError: mmengine cannot merge a value at its key (a dict over a string, a
            list item replaced by something else than a dict), naming the key.
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        merge_cfg_options(cfg, cfg_options)
    return cfg


def merge_cfg_options(cfg: Config, options: Mapping[str, Any]) -> None:
    """``cfg.merge_from_dict(options)``, with a merge that mmengine refuses (a TypeError or
    AttributeError from deep inside it) raised as :class:`ConfigValueError` naming the key."""
    try:
        cfg.merge_from_dict(options)
    except (TypeError, AttributeError, KeyError) as error:
        # mmengine merges all options at once: try each alone to name the one it refuses
        refused = [key for key in options if not _merges(cfg, key, options[key])]
        what = (f'cannot set "{refused[0]}" to {options[refused[0]]!r}' if refused else
                f'the options {", ".join(options)} conflict with each other')
        raise ConfigValueError(f'--cfg-options: {what} in {cfg.filename or "the config"}: '
                               f'{type(error).__name__}: {error}') from None


def _merges(cfg: Config, key: str, value: Any) -> bool:
    try:
        copy.deepcopy(cfg).merge_from_dict({key: copy.deepcopy(value)})
    except (TypeError, AttributeError, KeyError):
        return False
    return True
