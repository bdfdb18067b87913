# Synthetic actions (point3d_mm.datasets.preparation.synthetic_actions) in the ACT format,
# the embedded
# default of the demo and the tests. Make it with:
#   python tools/data/make_synthetic.py --out data/synthetic
# No horizontal flip: it would turn walk_left into walk_right.
dataset_type = 'ACTDataset'
data_root = 'data/synthetic/'
ann_file = 'synthetic_gt.pkl'
clip_len = 8
input_size = 128

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=input_size),
    dict(type='ClipColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
    dict(type='PackPoint3DInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=input_size),
    dict(type='PackPoint3DInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_root=data_root,
        data_prefix=dict(img='frames'),
        split=1,
        clip_len=clip_len,
        key_frame='last',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_root=data_root,
        data_prefix=dict(img='frames'),
        split=1,
        clip_len=clip_len,
        key_frame='last',
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
