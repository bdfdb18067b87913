# Table 3, CP: centre points only (no knots, no TWA, no 3D Head).
_base_ = ['../point3d_synthetic_ablation.py']

# Without the 3D Head the class comes from FrameClsHead: the 3D Head's 2 convs + FC on each
# actor's own frame features (RoI-pooled as the protocol's 3D Head), without the 3D backbone.
frame_cls_head = dict(_delete_=True, type='FrameClsHead', num_classes=6, in_channels=32,
                      conv_channels=32, pool='roi', dropout_ratio=0.0)
model = dict(point_head=dict(with_kp=False), neck=None, cls_head=frame_cls_head)
