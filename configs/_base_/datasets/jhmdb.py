# JHMDB-21 from the ACT release: data/jhmdb/JHMDB-GT.pkl and data/jhmdb/Frames/<video>/
# 00001.png ... (the layout of ACT and MOC-Detector). 3 splits: set `split` (1-based).
# Frames are 320x240; the paper resizes them to 256x256. Some videos have 15 frames, fewer
# than the paper's T=16: their clips repeat the end frames (on_short='clamp').
# Knots are the box edge midpoints here; configs/point3d_jhmdb.py trains on JHMDB's 15
# puppet joints (knots='joints', joints_root='joint_positions', relative to data_root).
dataset_type = 'ACTDataset'
data_root = 'data/jhmdb/'
ann_file = 'JHMDB-GT.pkl'
clip_len = 16
input_size = 256
split = 1

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
        data_prefix=dict(img='Frames'),
        filename_tmpl='{:05d}.png',
        split=split,
        clip_len=clip_len,
        on_short='clamp',
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
        data_prefix=dict(img='Frames'),
        filename_tmpl='{:05d}.png',
        split=split,
        clip_len=clip_len,
        on_short='clamp',
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
