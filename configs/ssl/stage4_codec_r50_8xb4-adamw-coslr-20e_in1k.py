# DICM training, stage 4 of 4: the compression network alone; backbone and RE frozen.
# loss = 0.08 * bpp + 2048 * MSE(f3, f2) + 384 / 256 / 192 * MSE of the layer2 / 3 / 4 outputs
# on f3 against the same frozen tail on f2 (teacher pass, no grad); AdamW 1e-4, gradient
# clipping at 1.0, 256-px crops, 20 epochs, 32 images per batch (released).
# Inherits stage 2 (codec parts trained alone, one view). Needs the stage-3 checkpoint:
# `--cfg-options load_from=<stage3 work dir>/epoch_200.pth`. Its result initialises the task
# configs (configs/mask-rcnn_dicm.py, ...): see mmdicm.models.selfsup.moco.
_base_ = './stage2_re_r50_8xb8-adam-coslr-20e_in1k.py'

model = dict(
    backbone=dict(
        codec=dict(net=dict(_delete_=True)),  # mmdicm: compression network joins (released)
        frozen_parts=('head', 're', 'tail')))  # mmdicm: only the compression network trains

codec_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[[
        dict(type='RandomResizedCrop', scale=256, crop_ratio_range=(0.2, 1.),
             backend='pillow'),  # mmdicm: released codec-stage crops are 256 px
        dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,  # mmdicm: 8 GPUs x 4 = 32, the released batch
    dataset=dict(pipeline=codec_pipeline))

custom_hooks = [
    # mmdicm: loss_rate = 0.08 * bpp(y, z), loss_dist_f3_f2 = 2048 * MSE(f3, f2),
    # loss_dist_tail = released per-stage weights on the tail outputs, loss_aux
    dict(type='RateDistortionLossHook', lambda_rate=0.08,
         distortions=[dict(pred='f3', target='f2', metric='l2', weight=2048.)],
         tail_distortion=dict(target='f2', metric='l2', weights=(384., 256., 192.))),
    dict(type='EntropyUpdateHook'),  # mmdicm: fresh entropy tables in every checkpoint
]

optim_wrapper = dict(
    # mmdicm: clip the main gradient only: the quantiles' aux gradient keeps a norm of ~2.4
    # whatever the step, and would set the clipping factor of everything else
    type='DICMOptimWrapper',
    constructor='DICMOptimWrapperConstructor',  # mmdicm: marks the quantiles' groups
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=0.01),  # mmdicm: released
    clip_grad=dict(max_norm=1.0))  # mmdicm: released grad_norm_clip

# mmdicm: the stage-3 result (override with --cfg-options load_from=...)
load_from = 'work_dirs/stage3_re-ssl_r50_8xb32-sgd-coslr-200e_in1k/epoch_200.pth'
