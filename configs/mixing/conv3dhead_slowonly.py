# Mixing (a): mmaction2's SlowOnly ResNet-50 as the 3D backbone of Point3D's 3D Head, on
# JHMDB, initialised from mmaction2's Kinetics-400 SlowOnly checkpoint (its RGB stem does
# not fit Y's 128 channels and is trained from scratch).
_base_ = ['../point3d_jhmdb.py']

slowonly_r50_k400 = (
    'https://download.openmmlab.com/mmaction/v1.0/recognition/slowonly/'
    'slowonly_imagenet-pretrained-r50_8xb16-4x16x1-steplr-150e_kinetics400-rgb/'
    'slowonly_imagenet-pretrained-r50_8xb16-4x16x1-steplr-150e_kinetics400-rgb_'
    '20220901-e7b65fad.pth')

model = dict(
    cls_head=dict(
        backbone=dict(
            _delete_=True,
            type='ResNet3dSlowOnly',
            depth=50,
            pretrained=None,
            lateral=False,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            # the hourglass already downsampled by R = 4
            conv1_stride_s=1,
            pool1_stride_s=1,
            inflate=(0, 0, 1, 1)),
        init_cfg=dict(type='Pretrained', checkpoint=slowonly_r50_k400)))
