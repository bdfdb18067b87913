# Table 3, CP+KP+3D: the full model without TWA (also the TWA table's 'no TWA' row).
_base_ = ['../point3d_synthetic_ablation.py']

model = dict(neck=None)
