# Rate sweep, detection (tools/rate_sweep.py --task detection): DICM's compression network
# (no RE: see codec_r18_embedded_cls.py) trained for one λ under the frozen task model of
# configs/sweep/mask-rcnn_r18_embedded.py (its backbone loaded with load_from; head and tail
# frozen), on the detection images at 256 px. Same losses as the classification sweep's codec
# (configs/sweep/codec_r18_embedded_cls.py), which this inherits.
_base_ = './codec_r18_embedded_cls.py'

sweep_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[[
        # mmdicm: 256-px views, the size the detector is evaluated at
        dict(type='RandomResizedCrop', scale=256, crop_ratio_range=(0.5, 1.), backend='pillow'),
        dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,  # mmdicm: CPU batch at 256 px
    dataset=dict(
        data_root='data/embedded/',  # mmdicm: the detection images (labels unused)
        ann_file='', data_prefix='train/', with_label=False, pipeline=sweep_pipeline))
train_cfg = dict(max_epochs=3)  # mmdicm: 300 iterations per λ (~6 CPU minutes)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
