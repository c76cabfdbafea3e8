# CPU demo of DICM's stage 4 (compression network alone) on the embedded data: the full-scale
# config with ResNet-18, 128-px views and 8 epochs. Loads the stage-3 demo result; its own
# result initialises the CPU task stages (configs/demo/*_from-stage4.py: same backbone and
# codec). 128 px, not the other stages' 64: at 64 px y is 4x4 and z 1x1, and the codec learnt
# there coded the 256-px task images at 10.4 bpp; 128 px and 8 epochs (~1.5 CPU minutes)
# brought that to 3.6 bpp (measured on 20 val images, tools/ssl_pipeline.py's chain).
_base_ = ['../stage4_codec_r50_8xb4-adamw-coslr-20e_in1k.py', '../_base_/embedded_demo.py']

model = _base_.demo_model  # mmdicm: ResNet-18, small queue and projection
codec_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[[
        dict(type='RandomResizedCrop', scale=128, crop_ratio_range=(0.2, 1.),
             backend='pillow'),  # mmdicm: 128-px views, the crops' own size
        dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(  # mmdicm: embedded classification view, CPU batch
    _base_.demo_dataloader,
    dataset=dict(_base_.demo_dataset, pipeline=codec_pipeline))

train_cfg = dict(max_epochs=8)  # mmdicm: a few CPU minutes
param_scheduler = [dict(type='CosineAnnealingLR', T_max=8, by_epoch=True, begin=0, end=8)]
default_hooks = _base_.demo_default_hooks  # mmdicm: log every 8 iterations, keep 1 checkpoint
load_from = 'work_dirs/stage3_re-ssl_r18_embedded/epoch_2.pth'  # mmdicm: demo stage 3
