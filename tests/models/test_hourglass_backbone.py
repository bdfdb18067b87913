import torch
from mmaction.registry import MODELS

TINY = dict(type='HourglassBackbone', downsample_times=2, num_stacks=2, stage_channels=(8, 8, 12),
            stage_blocks=(1, 1, 1), feat_channel=16)


def test_folds_frames_and_projects():
    backbone = MODELS.build(dict(TINY, out_channels=12, with_intermediate=True))
    clips = torch.randn(2, 3, 3, 64, 64)  # (B, 3, T, H, W)
    feats = backbone(clips)
    assert len(feats) == 2 and all(feat.shape == (6, 12, 16, 16) for feat in feats)
    # clip-major folding: frame t of clip b is row b·T + t
    backbone.eval()
    with torch.no_grad():
        folded = backbone(clips)[-1]
        single = backbone(clips[1, :, 2][None])[-1]
    torch.testing.assert_close(folded[1 * 3 + 2], single[0], rtol=1e-4, atol=1e-5)


def test_last_stack_only_and_no_projection_when_widths_match():
    backbone = MODELS.build(dict(TINY, out_channels=16))
    feats = backbone(torch.randn(2, 3, 64, 64))
    assert len(feats) == 1 and feats[0].shape == (2, 16, 16, 16)
    assert isinstance(backbone.proj, torch.nn.Identity)


def test_pretrained_checkpoint_survives_init_weights(tmp_path):
    """mmdet's HourglassNet.init_weights resets every conv after loading init_cfg; ours
    keeps the checkpoint (a detector checkpoint, loaded with prefix 'backbone.')."""
    source = MODELS.build(dict(TINY, out_channels=16))
    checkpoint = tmp_path / 'detector.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}},
               checkpoint)
    backbone = MODELS.build(dict(TINY, out_channels=16, init_cfg=dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.')))
    backbone.init_weights()
    for name, value in source.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[name], value, msg=name)
