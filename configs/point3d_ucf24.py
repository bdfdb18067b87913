# Point3D on UCF101-24 split 1 (paper Table 1): T = 16, 256x256, HG-104, 12 epochs.
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/ucf24.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

# Training memory (tools/analysis/benchmark_train_memory.py, docs/benchmarks.md): a clip of a
# training step takes about 5.8 GB in fp32 and 3.7 GB with the hourglass's activation
# checkpointing (with_cp, on here: one more hourglass forward per step), over 3.3 GB of
# weights, optimizer state and gradients. With with_cp, 6 clips per GPU fit a 32 GB V100 in
# fp32 with 15 % of its memory free. The paper trained on 8 GPUs: a total batch of 8 x 6 = 48
# clips ("8xb6" in OpenMMLab's naming). With another number of GPUs or clips per GPU (`--amp`
# halves the activations: docs/training.md), `tools/train.py --auto-scale-lr` scales both
# learning rates by the total batch over 48.
model = dict(backbone=dict(with_cp=True), cls_head=dict(num_classes=24))
auto_scale_lr = dict(enable=False, base_batch_size=8 * 6)

max_epochs = 12
# Validation every 2 epochs from epoch 6, and after the last one (mmengine always validates
# the last epoch): VideoMAP scores every frame of the 910 test videos, and the scores before
# the first LR drop (epoch 8) only show progress; the best checkpoint comes from the epochs
# after it.
train_cfg = dict(max_epochs=max_epochs, val_begin=6, val_interval=2)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[8, 11],
         gamma=0.1)
]

# Split 1, as the paper reports; read by the datasets and both evaluators.
split = 1
train_dataloader = dict(batch_size=6, dataset=dict(split=split))  # 8xb6: see above
val_dataloader = dict(dataset=dict(split=split))
test_dataloader = val_dataloader

gt_file = 'data/ucf24/UCF101v2-GT.pkl'
# Table 1's UCF101-24 columns: video-mAP at 0.1, 0.2, 0.5, 0.75 (and 0.5:0.95, always added).
val_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=split, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=split, iou_thrs=(0.1, 0.2, 0.5, 0.75)),
]
test_evaluator = val_evaluator
