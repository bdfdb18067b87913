# Table 4: the full model with clips of T = 1 frames at stride 2 (T = 8 is full.py).
_base_ = ['../point3d_synthetic_ablation.py']

# T = 1 keeps the 3D Head (its 3x3x3 kernels see one frame through zero padding) and TWA
# (M = [1], Y = 2F).
clip_len = 1
train_dataloader = dict(dataset=dict(clip_len=clip_len))
val_dataloader = dict(dataset=dict(clip_len=clip_len))
test_dataloader = dict(dataset=dict(clip_len=clip_len))
