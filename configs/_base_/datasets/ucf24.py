# UCF101-24 from the ACT release: data/ucf24/UCF101v2-GT.pkl and data/ucf24/rgb-images/
# <video>/00001.jpg ... (the layout of ACT and MOC-Detector). Papers report split 1.
# Frames are 320x240; the paper resizes them to 256x256.
dataset_type = 'ACTDataset'
data_root = 'data/ucf24/'
ann_file = 'UCF101v2-GT.pkl'
clip_len = 16
input_size = 256

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=int(input_size * 1.125)),
    dict(type='ClipRandomCrop', size=input_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipColorJitter'),
    dict(type='PackPoint3DInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=input_size),
    dict(type='PackPoint3DInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_root=data_root,
        data_prefix=dict(img='rgb-images'),
        split=1,
        clip_len=clip_len,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file,
        data_root=data_root,
        data_prefix=dict(img='rgb-images'),
        split=1,
        clip_len=clip_len,
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
