# TWA logits as cosine similarities over a learned temperature (initially 1).
_base_ = ['../point3d_synthetic_ablation.py']

model = dict(neck=dict(scale='l2_temperature', init_temperature=1.0))
