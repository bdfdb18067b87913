# A narrow Point3D for CPU runs and tests: 1-stack hourglass (32 channels, 128x128 input ->
# 32x32 features), the full Point Head (CP + KP), TWA and a very small ResNet3d-18 3D head.
# The structure is the paper's; only widths, depths and the input size are cut.
model = dict(
    type='Point3D',
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        format_shape='NCTHW'),
    backbone=dict(
        type='HourglassBackbone',
        downsample_times=2,
        num_stacks=1,
        stage_channels=(16, 16, 24),
        stage_blocks=(1, 1, 1),
        feat_channel=32,
        out_channels=32),
    point_head=dict(type='PointHead', in_channels=32, feat_channels=32, num_knots=4),
    # TWA with the paper's raw Gram logits, the class default, chosen on validation videos
    # (docs/paper.md, "Time-wise attention: which formula").
    neck=dict(type='TimeWiseAttention', scale=None),
    cls_head=dict(
        type='Conv3DHead',
        num_classes=6,
        in_channels=32,
        backbone=dict(
            type='ResNet3d',
            depth=18,
            base_channels=8,
            pretrained=None,
            pretrained2d=False,
            conv1_kernel=(3, 3, 3),
            conv1_stride_s=1,
            pool1_stride_s=1,
            with_pool2=False,
            inflate=(1, 1, 1, 1)),
        conv_channels=32,
        pool='clip',
        dropout_ratio=0.0),
    loss_weights=dict(loc=1.0, cls=1.0),
    train_cfg=dict(point_frames='all'),
    test_cfg=dict(frames='key', score_thr=0.01, classes_per_box=5, max_per_frame=100))
