# The demo with the fast 3D Head of point3d_ucf24_fast.py: point3d_demo_synthetic.py with
# the 3D backbone's stem convolution at spatial stride 2 (its ResNet3d-18 on 16x16 instead
# of 32x32 positions of Y). Trained and tested like the demo; its accuracy against the full
# model, 3 seeds each, is the 'fast' row of docs/model_zoo.md, "Ablations"
# (tools/analysis/run_ablation.py), whose rows use the paper's raw-Gram TWA where this
# config keeps the demo's sqrt_d.
_base_ = ['./point3d_demo_synthetic.py']

model = dict(cls_head=dict(backbone=dict(conv1_stride_s=2)))
