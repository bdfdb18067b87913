# Table 3, CP+3D: centre points and the 3D Head (no knots, no TWA).
_base_ = ['../point3d_synthetic_ablation.py']

model = dict(point_head=dict(with_kp=False), neck=None)
