# Point3D on AVA v2.1 (paper Table 2): T = 16, 256x256 letterbox, HG-104, 15 epochs.
# Only key frames are annotated, so the Point Head trains on them alone; the 3D Head
# classifies each actor by RoIAlign on the key-frame boxes (ground truth in training, the
# Point Head's detections in testing) with sigmoid multi-label scores over mmaction2's 81
# AVA columns (0 = background, never positive), scored by mmaction2's AVAMetric.
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/ava.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(
    backbone=dict(with_cp=True),  # activation checkpointing: see "Training memory" below
    cls_head=dict(
        num_classes=81,
        # keep the last stage at stride 1 (mmaction2's AVA SlowOnly setting): 16x16 RoI maps
        backbone=dict(spatial_strides=(1, 2, 2, 1)),
        pool='roi',
        multilabel=True,
        dropout_ratio=0.5,
        loss_cls=dict(type='BCELossWithLogits')),
    train_cfg=dict(point_frames='key'),
    # the 3D Head on every frame: AVA is scored on key frames one second apart, and no k > 1
    # was priced on RoI-mode, key-frame-only data
    test_cfg=dict(frames='key', score_thr=0.01, pred_format='ava', head_interval=1))

# Training memory (tools/analysis/benchmark_train_memory.py, docs/benchmarks.md): a clip of a
# training step takes about 5.3 GB in fp32 and 2.9 GB with the hourglass's activation
# checkpointing (with_cp, on above), over 3.3 GB of weights, optimizer state and gradients
# (the Point Head trains on the key frames only). With with_cp, 8 clips per GPU fit a 32 GB
# V100 in fp32 with 15 % free. The paper trained on 8 GPUs: a total batch of 8 x 8 = 64
# ("8xb8"), the base of `tools/train.py --auto-scale-lr` for another number of GPUs or clips.
train_dataloader = dict(batch_size=8)
auto_scale_lr = dict(enable=False, base_batch_size=8 * 8)

max_epochs = 15
# Validation every 3 epochs from epoch 9 (9, 12, 15; mmengine always validates the last):
# AVA's validation runs the whole model on each of the ~57k validation key frames' clips
# (mmaction2's AVADataset has no per-frame cache), and the scores before the first LR drop
# (epoch 10) only show progress.
train_cfg = dict(max_epochs=max_epochs, val_begin=9, val_interval=3)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10, 14],
         gamma=0.1)
]
