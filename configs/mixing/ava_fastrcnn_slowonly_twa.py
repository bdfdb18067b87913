# Mixing (b): Point3D's Time-wise Attention as the neck of mmaction2's AVA detector
# (FastRCNN + SlowOnly R50, 4x16 frames, Kinetics-400 pretrained), everything else as in
# mmaction2's config. The detector is built in mmdet's scope, hence the scoped type; the
# SlowOnly features are (B, C, T, H, W), TWA's default layout.
_base_ = [
    'mmaction::detection/slowonly/'
    'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py'
]

custom_imports = dict(imports=['point3d_mm'], allow_failed_imports=False)

# scale='sqrt_d', not the class default (the paper's raw Gram): on 2048x16x16 SlowOnly features
# the raw logits make M one-hot and TWA mix nothing (docs/using_parts_in_mmaction2.md).
model = dict(neck=dict(type='mmaction.TimeWiseAttention', layout='BCTHW', scale='sqrt_d'))
