# Table 4: the full model with clips of T = 32 frames at stride 2 (T = 8 is full.py).
_base_ = ['../point3d_synthetic_ablation.py']

# T = 32 at stride 2 spans 63 frames, longer than half of the 32-96-frame videos, whose clips
# then repeat their first frame (the paper's T = 32 also adds a long-term feature bank, which is
# not implemented).
clip_len = 32
train_dataloader = dict(dataset=dict(clip_len=clip_len))
val_dataloader = dict(dataset=dict(clip_len=clip_len))
test_dataloader = dict(dataset=dict(clip_len=clip_len))
