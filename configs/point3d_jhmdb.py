# Point3D on JHMDB-21 (paper Table 1): T = 16, 256x256, HG-104, 20 epochs. The paper averages
# splits 1-3: `split` below is read by the datasets and both evaluators; run another split with
# the --cfg-options that `tools/analysis/average_splits.py --options-for N CONFIG` prints, and
# average the three metrics JSONs with that script (docs/training.md).
# Knots: JHMDB's 15 puppet joints (K = 15), read from the release's joint files
# data/jhmdb/joint_positions/<class>/<video>/joint_positions.mat (joints_root is relative to
# data_root) and flipped with left and right swapped; the Point Head maps their extent to the
# box with margins fitted on the training ground truth (PointHead's docstring). Only training
# reads them. Without the joint files, train on the boxes' edge midpoints instead:
#   --cfg-options model.point_head.num_knots=4 train_dataloader.dataset.knots=box
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/jhmdb.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

# Training memory: the model is UCF101-24's (see configs/point3d_ucf24.py and
# docs/benchmarks.md): with the hourglass's activation checkpointing (with_cp, on here), 6
# clips per GPU fit a 32 GB V100 in fp32 with 15 % free; 8 GPUs give a total batch of
# 8 x 6 = 48 ("8xb6"), the base of `tools/train.py --auto-scale-lr`.
model = dict(backbone=dict(with_cp=True), point_head=dict(num_knots=15),
             cls_head=dict(num_classes=21))
auto_scale_lr = dict(enable=False, base_batch_size=8 * 6)

max_epochs = 20
# Validation every 2 epochs from epoch 10, and after the last one: the scores before the
# first LR drop (epoch 13) only show progress; JHMDB's test split is small, so 6 validations
# cost little.
train_cfg = dict(max_epochs=max_epochs, val_begin=10, val_interval=2)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[13, 18],
         gamma=0.1)
]

split = 1
knots = 'joints'
joints_root = 'joint_positions'
train_dataloader = dict(  # 8xb6: see above
    batch_size=6, dataset=dict(split=split, knots=knots, joints_root=joints_root))
val_dataloader = dict(dataset=dict(split=split))
test_dataloader = val_dataloader

gt_file = 'data/jhmdb/JHMDB-GT.pkl'
val_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=split, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=split, iou_thrs=(0.2, 0.5, 0.75)),
]
test_evaluator = val_evaluator
