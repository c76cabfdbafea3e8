# DICM training, stage 2 of 4: the RE module alone, on the frozen stage-1 backbone.
# loss = 1 * bpp_re + 128 * L1(f2, f1); Adam 1e-4, 20 epochs, 64 images per batch (released).
# Needs the stage-1 checkpoint: `--cfg-options load_from=<stage1 work dir>/epoch_800.pth`.
_base_ = './stage1_mocov2-ccrop_r50_8xb32-coslr-800e_in1k.py'

model = dict(
    contrastive_weight=0.,  # mmdicm: no contrastive term (released lambda_contr 0)
    backbone=dict(
        codec=dict(_delete_=True, net=None),  # mmdicm: RE only (compression network: stage 4)
        frozen_parts=('head', 'tail')))  # mmdicm: backbone frozen, RE trained

# mmdicm: one plain view (the RE learns to reconstruct features, the view pairing is unused)
codec_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[[
        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
             backend='pillow'),
        dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,  # mmdicm: 8 GPUs x 8 = 64, the released batch
    dataset=dict(pipeline=codec_pipeline))

custom_hooks = [
    # mmdicm: loss_rate_re = 1 * bpp_re, loss_dist_f2_f1 = 128 * L1(f2, f1), loss_aux
    dict(type='RateDistortionLossHook', lambda_re=1.0,
         distortions=[dict(pred='f2', target='f1', metric='l1', weight=128.)]),
    dict(type='EntropyUpdateHook'),  # mmdicm: fresh entropy tables in every checkpoint
]

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='Adam', lr=1e-4, weight_decay=0.),  # mmdicm: released
    paramwise_cfg=dict(custom_keys={  # mmdicm: CompressAI's aux params, no weight decay
        'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))

train_cfg = dict(max_epochs=20)  # mmdicm: released schedule
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)]

# mmdicm: the stage-1 result (override with --cfg-options load_from=...)
load_from = 'work_dirs/stage1_mocov2-ccrop_r50_8xb32-coslr-800e_in1k/epoch_800.pth'
