# Table 3, CP+KP+3D+TWA: the protocol's full model as it is (the paper's raw-Gram TWA).
_base_ = ['../point3d_synthetic_ablation.py']

