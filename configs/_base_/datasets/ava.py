# AVA v2.1 through mmaction2's AVADataset (csv annotations, FAIR person proposals, excluded
# timestamps, label map, 1 fps key frames) with Point3D's clip transforms. Frames as
# mmaction2's AVA preparation writes them: data/ava/rawframes/<video_id>/img_00001.jpg ...
# LoadClipFrames decodes to BGR (as every point3d_mm pipeline) and scales AVADataset's
# relative boxes and proposals to pixels, in place of mmaction2's RawFrameDecode.
dataset_type = 'AVADataset'
data_root = 'data/ava/rawframes'
anno_root = 'data/ava/annotations'
ann_file_train = f'{anno_root}/ava_train_v2.1.csv'
ann_file_val = f'{anno_root}/ava_val_v2.1.csv'
exclude_file_train = f'{anno_root}/ava_train_excluded_timestamps_v2.1.csv'
exclude_file_val = f'{anno_root}/ava_val_excluded_timestamps_v2.1.csv'
label_file = f'{anno_root}/ava_action_list_v2.1_for_activitynet_2018.pbtxt'
proposal_file_train = f'{anno_root}/ava_dense_proposals_train.FAIR.recall_93.9.pkl'
proposal_file_val = f'{anno_root}/ava_dense_proposals_val.FAIR.recall_93.9.pkl'
clip_len = 16
frame_interval = 2
input_size = 256

train_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='LoadClipFrames', relative_boxes=True),
    dict(type='ClipResize', scale=input_size, keep_ratio=True, letterbox=True),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipColorJitter'),
    dict(type='PackPoint3DInputs'),
]
val_pipeline = [
    dict(type='SampleAVAFrames', clip_len=clip_len, frame_interval=frame_interval,
         test_mode=True),
    dict(type='LoadClipFrames', relative_boxes=True),
    dict(type='ClipResize', scale=input_size, keep_ratio=True, letterbox=True),
    dict(type='PackPoint3DInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        exclude_file=exclude_file_train,
        label_file=label_file,
        proposal_file=proposal_file_train,
        data_prefix=dict(img=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        exclude_file=exclude_file_val,
        label_file=label_file,
        proposal_file=proposal_file_val,
        data_prefix=dict(img=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='AVAMetric',
    ann_file=ann_file_val,
    label_file=label_file,
    exclude_file=exclude_file_val)
test_evaluator = val_evaluator
