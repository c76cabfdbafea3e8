# CPU demo of DICM's stage 4 (compression network alone) on the embedded data: the full-scale
# config with ResNet-18, 64-px views and 2 epochs. Loads the stage-3 demo result; its own
# result initialises configs/demo/mask-rcnn_dicm_r18_embedded.py (same backbone and codec).
_base_ = ['../stage4_codec_r50_8xb4-adamw-coslr-20e_in1k.py', '../_base_/embedded_demo.py']

model = _base_.demo_model  # mmdicm: ResNet-18, small queue and projection
train_dataloader = dict(  # mmdicm: embedded classification view, CPU batch
    _base_.demo_dataloader,
    dataset=dict(_base_.demo_dataset, pipeline=_base_.demo_codec_pipeline))

train_cfg = dict(max_epochs=2)  # mmdicm: a few CPU minutes
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
default_hooks = _base_.demo_default_hooks  # mmdicm: log every 8 iterations, keep 1 checkpoint
load_from = 'work_dirs/stage3_re-ssl_r18_embedded/epoch_2.pth'  # mmdicm: demo stage 3
