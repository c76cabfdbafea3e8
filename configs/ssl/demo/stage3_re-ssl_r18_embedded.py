# CPU demo of DICM's stage 3 (backbone + RE with semantic-guided MoCo v2 under the RE rate) on
# the embedded data: the full-scale config with ResNet-18, 64-px views and 2 epochs. Loads the
# stage-2 demo result.
_base_ = ['../stage3_re-ssl_r50_8xb32-sgd-coslr-200e_in1k.py', '../_base_/embedded_demo.py']

model = _base_.demo_model  # mmdicm: ResNet-18, small queue and projection
train_dataloader = dict(  # mmdicm: embedded classification view, CPU batch
    _base_.demo_dataloader,
    dataset=dict(_base_.demo_dataset, pipeline=_base_.demo_ssl_pipeline))
custom_hooks = [  # mmdicm: the full config's loss hooks; boxes at the demo's view size
    *_base_.custom_hooks[:2],
    dict(type='SemanticBoxHook', interval=1, start=0, threshold=0.1,
         image_size=_base_.demo_size, batch_size=64)]

train_cfg = dict(max_epochs=2)  # mmdicm: a few CPU minutes
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = _base_.demo_default_hooks  # mmdicm: log every 8 iterations, keep 1 checkpoint
load_from = 'work_dirs/stage2_re_r18_embedded/epoch_2.pth'  # mmdicm: demo stage 2
