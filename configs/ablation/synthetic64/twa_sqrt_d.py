# TWA logits scaled by 1/sqrt(d), d the flattened feature size (dot-product attention).
_base_ = ['../point3d_synthetic_ablation.py']

model = dict(neck=dict(scale='sqrt_d'))
