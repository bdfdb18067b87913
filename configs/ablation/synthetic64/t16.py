# Table 4: the full model with clips of T = 16 frames at stride 2 (T = 8 is full.py).
_base_ = ['../point3d_synthetic_ablation.py']

clip_len = 16
train_dataloader = dict(dataset=dict(clip_len=clip_len))
val_dataloader = dict(dataset=dict(clip_len=clip_len))
test_dataloader = dict(dataset=dict(clip_len=clip_len))
