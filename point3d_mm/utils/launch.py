"""Config preparation shared by tools/train.py and tools/test.py."""
import difflib
import inspect
from typing import Any, Mapping, Optional

import torch
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


def apply_amp(cfg: Config) -> None:
    """Turn on mixed precision for ``--amp``.

    On CUDA every optimizer wrapper becomes mmengine's ``AmpOptimWrapper`` (fp16). mmengine's
    AMP wrapper asserts a GPU, so on CPU the model's own train step runs under bf16 autocast
    instead (``model.train_cfg.autocast_dtype``); models without such a step are refused.
    """
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        subwrappers = [value for value in wrapper.values()
                       if isinstance(value, Mapping) and 'optimizer' in value]
        for sub in subwrappers or [wrapper]:
            sub['type'] = 'AmpOptimWrapper'
            sub.setdefault('loss_scale', 'dynamic')
        return
    model_type = str(cfg.model.get('type', ''))
    if model_type not in ('Point3D', 'mmaction.Point3D'):
        raise SystemExit(f'--amp on CPU is supported for Point3D models only (bf16 autocast in '
                         f'their train step); {model_type} would need mmengine\'s '
                         'AmpOptimWrapper, which requires CUDA.')
    cfg.model.train_cfg = {**(cfg.model.get('train_cfg') or {}), 'autocast_dtype': 'bfloat16'}


def prepare_launcher(cfg: Config) -> None:
    """Make a distributed launch work without CUDA.

    On a CPU-only machine the process group uses gloo, and DDP must get ``device_ids=None``
    (mmengine's default wraps with ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU
    modules).
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.get('env_cfg') or {}
    env_cfg['dist_cfg'] = {**(env_cfg.get('dist_cfg') or {}), 'backend': 'gloo'}
    cfg.env_cfg = env_cfg
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
