# The fast 3D Head (as configs/point3d_*_fast.py): its stem convolution strides 2 in space,
# a quarter of the positions for the whole 3D backbone.
_base_ = ['../point3d_synthetic_ablation.py']

model = dict(cls_head=dict(backbone=dict(conv1_stride_s=2)))
