# CPU demo of DICM's stage 2 (RE module alone, backbone frozen) on the embedded data: the
# full-scale config with ResNet-18, 64-px views and 2 epochs. Loads the stage-1 demo result.
_base_ = ['../stage2_re_r50_8xb8-adam-coslr-20e_in1k.py', '../_base_/embedded_demo.py']

model = _base_.demo_model  # mmdicm: ResNet-18, small queue and projection
train_dataloader = dict(  # mmdicm: embedded classification view, CPU batch
    _base_.demo_dataloader,
    dataset=dict(_base_.demo_dataset, pipeline=_base_.demo_codec_pipeline))

train_cfg = dict(max_epochs=2)  # mmdicm: a few CPU minutes
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = _base_.demo_default_hooks  # mmdicm: log every 8 iterations, keep 1 checkpoint
load_from = 'work_dirs/stage1_mocov2-ccrop_r18_embedded/epoch_3.pth'  # mmdicm: demo stage 1
