# The ablation protocol of the paper's Tables 3 and 4 on synthetic actions: the full model
# (CP + KP + TWA + 3D Head) that each row of configs/ablation/synthetic64/ changes in one
# thing; tools/analysis/run_ablation.py runs them, 3 seeds each (docs/model_zoo.md). It is
# the demo's model and recipe (configs/point3d_demo_synthetic.py: tiny 1-stack hourglass,
# T = 8 at stride 2, actor-centred 3D Head, strong colour jitter, 2000 iterations of 8 clips)
# at half the frame size, so that a run costs about a quarter of the demo's:
# * data: its own synthetic set, 600 training + 60 validation + 60 test videos of 64x64 frames
#   (`run_ablation.py` writes it: SyntheticActions(seed=0, num_train=600, num_test=60,
#   num_val=60, size=64)); three times the demo's held-out videos, so that the test set's
#   share of the seed-to-seed spread is smaller; settings are chosen on the validation videos
#   (val_dataloader, val_evaluator), the test videos only report;
# * 64x64 input -> 16x16 features; the 3D Head keeps the demo's 8x8 map for RoIAlign
#   (spatial strides 1, 1, 2, 1 instead of 1, 2, 2, 1);
# * everything a row compares is written here, not inherited from a default that may change:
#   knots are the stick figures' 11 joints with the Point Head's knot-to-box fusion on; TWA
#   is the paper's formula (raw Gram logits, scale=None); tubes are linked by TubeLinker;
# * one data process (num_workers=0), for runs with one thread each.
_base_ = ['../point3d_tiny_synthetic.py']

data_root = 'data/synthetic_ablation/'
input_size = 64
clip_len = 8
frame_interval = 2
val_ann_file = 'synthetic_val_gt.pkl'
knots = 'joints'
joints_file = 'synthetic_joints.pkl'

model = dict(
    point_head=dict(with_kp=True, num_knots=11, test_cfg=dict(fuse_knots=True)),
    neck=dict(type='TimeWiseAttention', scale=None),
    cls_head=dict(pool='roi', backbone=dict(spatial_strides=(1, 1, 2, 1))))

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=input_size),
    dict(type='ClipColorJitter', brightness=0.3, contrast=0.3, saturation=0.5, hue=0.5),
    dict(type='PackPoint3DInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=input_size),
    dict(type='PackPoint3DInputs'),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, clip_len=clip_len, frame_interval=frame_interval,
                 knots=knots, joints_file=joints_file, pipeline=train_pipeline))
_test_dataset = dict(data_root=data_root, clip_len=clip_len, frame_interval=frame_interval,
                     pipeline=test_pipeline)
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(**_test_dataset, ann_file=val_ann_file))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(**_test_dataset, ann_file='synthetic_gt.pkl'))

max_iters = 2000
# Tested once, after training (tools/test.py), not validated during it.
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters + 1)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1500, 1800],
         gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=500, save_best=None, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)  # run_ablation.py passes --seed 0, 1, 2

gt_file = data_root + 'synthetic_gt.pkl'
val_gt_file = data_root + val_ann_file
# Frame-mAP@0.5, video-mAP@0.2/0.5/0.75 (+0.5:0.95) and the class-agnostic frame-AP@0.5 (the
# Point Head's localisation alone); the linker is named so that a new default elsewhere does
# not change rows already measured.
test_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=1, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=1, iou_thrs=(0.2, 0.5, 0.75),
         linker=dict(type='TubeLinker')),
    dict(type='FrameMAP', ann_file=gt_file, split=1, iou_thr=0.5, class_agnostic=True),
]
val_evaluator = [{**metric, 'ann_file': val_gt_file} for metric in test_evaluator]
