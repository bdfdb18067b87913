import copy
from typing import Dict, List, Optional

from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class Point3DOptimWrapperConstructor:
    """Split a model's parameters between several optimizers by submodule name.

    mmengine builds an ``OptimWrapperDict`` only from already-built wrappers, and its default
    constructor gives all parameters to one optimizer. Point3D trains the feature extractor
    and the Point Head with Adam (lr 5e-4) and the 3D Head with SGD (lr 1e-3), end to end
    (paper §4.1)::

        optim_wrapper = dict(
            constructor='Point3DOptimWrapperConstructor',
            point=dict(type='OptimWrapper', prefixes=['backbone', 'neck', 'point_head'],
                       optimizer=dict(type='Adam', lr=5e-4)),
            cls=dict(type='OptimWrapper', prefixes=['cls_head'],
                     optimizer=dict(type='SGD', lr=1e-3, momentum=0.9)))

    Every trainable parameter must fall under exactly one prefix (a prefix names a submodule,
    e.g. 'backbone' or 'cls_head.backbone'); prefixes of submodules that the model lacks or
    that hold no parameter (TWA) are allowed. The model's ``train_step`` back-propagates the
    joint loss once and steps every wrapper (``Point3D.train_step``); gradient accumulation
    is therefore not supported.

    Args:
        optim_wrapper_cfg (dict): one optimizer-wrapper config per name, each with
            ``prefixes``.
        paramwise_cfg (dict, optional): not supported; must be None.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ValueError('Point3DOptimWrapperConstructor does not support paramwise_cfg')
        self.optim_wrapper_cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        for name, cfg in self.optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'prefixes' not in cfg or 'optimizer' not in cfg:
                raise ValueError(f'optim_wrapper.{name} must be an optimizer-wrapper config '
                                 'with "prefixes" and "optimizer"')
            if cfg.get('accumulative_counts', 1) != 1:
                raise ValueError('gradient accumulation is not supported with one joint '
                                 f'backward for several optimizers (optim_wrapper.{name})')

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build one wrapper per configured name over its parameters.

        Args:
            model (nn.Module): the model, possibly wrapped (DDP).

        Returns:
            OptimWrapperDict: the wrappers, by name.
        """
        if is_model_wrapper(model):
            model = model.module
        params = self._split_parameters(model)
        wrappers = {}
        for name, cfg in self.optim_wrapper_cfg.items():
            cfg = copy.deepcopy(cfg)
            cfg.pop('prefixes')
            optimizer_cfg = cfg.pop('optimizer')
            optimizer = OPTIMIZERS.build(dict(optimizer_cfg, params=params[name]))
            cfg.setdefault('type', 'OptimWrapper')
            wrappers[name] = OPTIM_WRAPPERS.build(dict(cfg, optimizer=optimizer))
        return OptimWrapperDict(**wrappers)

    def _split_parameters(self, model: nn.Module) -> Dict[str, List[nn.Parameter]]:
        """Trainable parameters of each configured name; raise on a parameter that no name
        or two names claim."""
        prefixes = {
            name: tuple(prefix.rstrip('.') + '.' for prefix in cfg['prefixes'])
            for name, cfg in self.optim_wrapper_cfg.items()
        }
        params: Dict[str, List[nn.Parameter]] = {name: [] for name in prefixes}
        unclaimed = []
        for param_name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            owners = [name for name, names in prefixes.items() if param_name.startswith(names)]
            if len(owners) > 1:
                raise ValueError(f'parameter {param_name} is claimed by optim_wrapper.'
                                 f'{" and optim_wrapper.".join(owners)}')
            if not owners:
                unclaimed.append(param_name)
                continue
            params[owners[0]].append(param)
        if unclaimed:
            raise ValueError(f'{len(unclaimed)} trainable parameters belong to no optimizer '
                             f'(add their submodule to a "prefixes" list): {unclaimed[:5]}')
        return params
