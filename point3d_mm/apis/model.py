"""Building a Point3D detector from a config and a checkpoint, ready for inference."""
import re
from typing import List, Optional, Union

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from torch import nn

#: How many keys of each kind a mismatch error names.
SHOWN_KEYS = 5


def init_detector(config: Union[str, Config], checkpoint: Optional[str] = None,
                  device: str = 'cpu', cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a Point3D detector from a config and load its weights.

    Args:
        config: config file or :class:`Config`.
        checkpoint: checkpoint file; None keeps the random initialisation.
        device: 'cpu', 'cuda', 'cuda:1', ...
        cfg_options: overrides merged into the config.

    Returns:
        The model in eval mode, with the config as ``model.cfg`` and the training dataset's
        metainfo (``classes``) from the checkpoint as ``model.dataset_meta``.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: the checkpoint's weights are not this model's (trained with another
            config): names the file and the first missing, unexpected and size-mismatched
            keys. Also :class:`~point3d_mm.utils.checkpoint.CheckpointDamagedError` (a
            ValueError) and ``CheckpointSecurityError`` from reading it.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    from mmaction.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.pop('init_cfg', None)  # never download pretrained weights for inference
    for part in ('backbone', 'cls_head'):
        if isinstance(model_cfg.get(part), dict):
            model_cfg[part] = {k: v for k, v in model_cfg[part].items() if k != 'init_cfg'}
    model = MODELS.build(model_cfg)
    model.dataset_meta = {}
    if checkpoint is not None:
        loaded = _load_checkpoint(checkpoint, map_location='cpu')
        check_checkpoint_matches(model, loaded, checkpoint)
        _load_checkpoint_to_model(model, loaded, strict=True)
        model.dataset_meta = dict(loaded.get('meta', {}).get('dataset_meta') or {})
    model.cfg = cfg
    return model.to(device).eval()


def check_checkpoint_matches(model: nn.Module, loaded: dict, checkpoint: str) -> None:
    """Refuse a checkpoint whose state dict is not ``model``'s: keys missing from it, keys
    the model does not have, or tensors of other shapes (as mmengine would only log them and
    run with random weights)."""
    if not isinstance(loaded, dict):
        raise ValueError(f'checkpoint {checkpoint} holds a {type(loaded).__name__}, not a '
                         'state dict')
    state = loaded.get('state_dict', loaded)
    if not isinstance(state, dict):
        raise ValueError(f'checkpoint {checkpoint}: its state_dict is a '
                         f'{type(state).__name__}, not a dict of tensors')
    state = {re.sub(r'^module\.', '', str(k)): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f'{k} {tuple(getattr(state[k], "shape", ()))} in the checkpoint, '
                  f'{tuple(v.shape)} in the model' for k, v in own.items()
                  if k in state and tuple(getattr(state[k], 'shape', ())) != tuple(v.shape)]
    problems: List[str] = []
    for what, keys in (('sizes differ', mismatched), ('missing from the checkpoint', missing),
                       ('not in the model', unexpected)):
        if keys:
            more = f', ... ({len(keys)} in all)' if len(keys) > SHOWN_KEYS else ''
            problems.append(f'{what}: {"; ".join(keys[:SHOWN_KEYS])}{more}')
    if problems:
        raise ValueError(
            f'checkpoint {checkpoint} does not fit the model of this config (trained with '
            f'another config?): {" | ".join(problems)}')
