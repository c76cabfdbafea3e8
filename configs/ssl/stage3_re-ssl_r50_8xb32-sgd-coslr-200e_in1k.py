# DICM training, stage 3 of 4: backbone and RE module jointly, semantic-guided MoCo v2 under
# the RE's bitrate constraint. loss = 1 * InfoNCE + 0.1 * bpp_re + 0.1 * L1(f2, f1);
# SGD 1e-3, 200 epochs, 256 images per batch (released). Inherits stage 1 (same SSL data).
# Needs the stage-2 checkpoint: `--cfg-options load_from=<stage2 work dir>/epoch_20.pth`.
_base_ = './stage1_mocov2-ccrop_r50_8xb32-coslr-800e_in1k.py'

model = dict(
    backbone=dict(codec=dict(_delete_=True, net=None)))  # mmdicm: RE joins; no codec yet

custom_hooks = [
    # mmdicm: loss_rate_re = 0.1 * bpp_re, loss_dist_f2_f1 = 0.1 * L1(f2, f1), loss_aux; the
    # released code lets the distortion reach the head too (f1 not detached)
    dict(type='RateDistortionLossHook', lambda_re=0.1,
         distortions=[dict(pred='f2', target='f1', metric='l1', weight=0.1,
                           detach_target=False)]),
    dict(type='EntropyUpdateHook'),  # mmdicm: fresh entropy tables in every checkpoint
    # mmdicm: the stage-1 backbone already localises objects: guided crops from epoch 0
    dict(type='SemanticBoxHook', interval=20, start=0, threshold=0.1, image_size=224),
]

optim_wrapper = dict(
    optimizer=dict(lr=1e-3),  # mmdicm: released SGD lr (momentum 0.9, wd 1e-4 as MoCo's)
    paramwise_cfg=dict(custom_keys={  # mmdicm: CompressAI's aux params, no weight decay
        'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))

train_cfg = dict(max_epochs=200)  # mmdicm: released schedule
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]

# mmdicm: the stage-2 result (override with --cfg-options load_from=...)
load_from = 'work_dirs/stage2_re_r50_8xb8-adam-coslr-20e_in1k/epoch_20.pth'
