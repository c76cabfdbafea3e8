# What the CPU detector demos (configs/demo/*_r18_embedded.py) change in the full-scale
# configs, once: the embedded dataset (`tools/make_embedded_data.py --out data/embedded`) and
# its 4 classes, a ResNet-18 trained from scratch, BatchNorm in the slim heads, 256-px inputs
# and a 300-iteration CPU schedule. Inherit it next to a full-scale config; the demo picks
# the pieces by name (the names here are new keys, so the two bases never clash).
embedded_root = 'data/embedded/'  # generated offline, deterministic
embedded_metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))
demo_norm_cfg = dict(type='BN', requires_grad=True)  # from scratch: norms in neck and heads
demo_backbone = dict(
    depth=18,  # shallow ResNet: no pretrained weights offline, CPU budget
    init_cfg=None,  # from scratch (no model hub here)
    frozen_stages=-1,  # nothing pretrained to freeze
    norm_eval=False)  # BN statistics must be learned
demo_neck = dict(in_channels=[64, 128, 256, 512], out_channels=128, norm_cfg=demo_norm_cfg)
demo_resize = dict(type='Resize', scale=(256, 256), keep_ratio=True)  # 256-px input (CPU)
demo_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')
# a few CPU minutes, iteration-based
demo_train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300, val_interval=300)
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=300, milestones=[250], gamma=0.1),
]
demo_default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=300),  # iteration-based
    logger=dict(interval=10))
demo_log_processor = dict(by_epoch=False)
