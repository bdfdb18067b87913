# The synthetic actions in mmaction2's AVA layout (written by tools/data/make_synthetic.py
# beside the ACT layout, sharing its frames): one key frame every 8 frames ("1 fps" at
# fps=8), timestamps from 0, multi-label actors (the action and 'occluded'), jittered
# detector proposals. SampleAVAFrames' clip_len/frame_interval must match the generator's
# ava_clip_len/ava_frame_interval (8, 2), which chose key frames whose clips fit the video.
# No horizontal flip: it would turn walk_left into walk_right.
dataset_type = 'AVADataset'
data_root = 'data/synthetic/'
ava_root = data_root + 'ava/'
label_file = ava_root + 'action_list.txt'
num_classes = 8  # background + 6 actions + occluded
clip_len = 8
frame_interval = 2
input_size = 128
common = dict(
    type=dataset_type,
    label_file=label_file,
    filename_tmpl='{:05}.jpg',
    start_index=0,
    fps=8,
    timestamp_start=0,
    timestamp_end=1000,
    num_classes=num_classes,
    data_prefix=dict(img=data_root + 'frames'))

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='LoadClipFrames', relative_boxes=True),
    dict(type='ClipResize', scale=input_size),
    dict(type='ClipColorJitter', hue=0.02),
    dict(type='PackPoint3DInputs'),
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval,
         test_mode=True),
    dict(type='LoadClipFrames', relative_boxes=True),
    dict(type='ClipResize', scale=input_size),
    dict(type='PackPoint3DInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        ann_file=ava_root + 'synthetic_train.csv',
        exclude_file=ava_root + 'synthetic_train_excluded_timestamps.csv',
        proposal_file=ava_root + 'synthetic_dense_proposals_train.pkl',
        pipeline=train_pipeline,
        **common))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file=ava_root + 'synthetic_val.csv',
        exclude_file=ava_root + 'synthetic_val_excluded_timestamps.csv',
        proposal_file=ava_root + 'synthetic_dense_proposals_val.pkl',
        pipeline=val_pipeline,
        test_mode=True,
        **common))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='AVAMetric',
    ann_file=ava_root + 'synthetic_val.csv',
    label_file=label_file,
    exclude_file=ava_root + 'synthetic_val_excluded_timestamps.csv',
    num_classes=num_classes)
test_evaluator = val_evaluator
