# The demo's config (`make demo`): the tiny CPU Point3D of point3d_tiny_synthetic.py trained by
# iterations on a larger synthetic set (tools/run_demo.py makes 200 training videos), with
# clips drawn at random from every video. Few videos let the 3D head memorise each video's
# look (train loss_cls 0.17, held-out frame-mAP 0.19 after 2 epochs on 40 videos); more
# videos make it learn the motion.
_base_ = ['./point3d_tiny_synthetic.py']

max_iters = 2000
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=1000)
train_dataloader = dict(sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1500, 1800],
         gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=500, save_best=None, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
