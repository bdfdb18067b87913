# The demo's T = 1 ablation (docs/model_zoo.md): Point3D without its temporal parts, trained
# and tested like configs/point3d_demo_synthetic.py (same data, iterations and optimizers).
# Clips of one frame, no TWA, and FrameClsHead (the 3D Head's 2 convs + FC without the 3D
# backbone, 1x3x3 kernels) classifying each actor from its own frame's features. The
# synthetic classes differ only in motion, so this row shows what the temporal parts add.
_base_ = ['../point3d_demo_synthetic.py']

clip_len = 1
model = dict(
    neck=None,
    cls_head=dict(
        _delete_=True,
        type='FrameClsHead',
        num_classes=6,
        in_channels=32,
        conv_channels=32,
        pool='roi',
        dropout_ratio=0.0))
train_dataloader = dict(dataset=dict(clip_len=clip_len))
val_dataloader = dict(dataset=dict(clip_len=clip_len))
test_dataloader = val_dataloader
