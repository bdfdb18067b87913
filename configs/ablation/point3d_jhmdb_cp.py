# Paper Table 3 (JHMDB split 1): CP only.
# Without the 3D Head the class comes from FrameClsHead: the 3D Head's 2 convs + FC without
# the 3D backbone, classifying every frame from its own features Y (mixed across frames only
# when TWA is on).
_base_ = ['../point3d_jhmdb.py']

model = dict(
    point_head=dict(with_kp=False),
    neck=None,
    cls_head=dict(
        _delete_=True,
        type='FrameClsHead',
        num_classes=21,
        in_channels=128,
        conv_channels=256,
        pool='clip',
        dropout_ratio=0.5))
