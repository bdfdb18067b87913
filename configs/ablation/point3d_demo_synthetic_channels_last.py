# The demo trained with every convolution channels-last (ChannelsLastHook), everything else as
# configs/point3d_demo_synthetic.py: the same model and arithmetic in another memory layout,
# in which oneDNN's convolutions can run faster on CPU. In float32 its gradients round
# differently from NCHW's (the hook's docstring), so it is a lever to adopt only if the demo's
# 3-seed means stay within the demo's spread. Time per training iteration: docs/model_zoo.md,
# "Cheaper training for the demo".
_base_ = ['../point3d_demo_synthetic.py']

custom_hooks = [dict(type='ChannelsLastHook')]
