"""Memory formats of a model's convolutions: one home for the layout switch that inference
(``point3d_mm.apis.apply_speed_options``) and training (``ChannelsLastHook``) use."""
import torch
from torch import nn


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put every conv weight into the channels-last layout, in place.

    A conv with a channels-last weight also produces channels-last activations, so the
    layout spreads through the network without converting the input. The parameters stay the
    same objects (``nn.Module.to`` replaces their data), so an optimizer built before keeps
    updating them, and a state dict loaded afterwards is copied into the layout.

    Args:
        model: any module.

    Returns:
        The same module.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
        elif isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model
