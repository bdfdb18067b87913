"""Building a Point3D detector from a config and a checkpoint, ready for inference."""
from typing import Optional, Union

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn


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
        loaded = load_checkpoint(model, checkpoint, map_location='cpu')
        model.dataset_meta = dict(loaded.get('meta', {}).get('dataset_meta') or {})
    model.cfg = cfg
    return model.to(device).eval()
