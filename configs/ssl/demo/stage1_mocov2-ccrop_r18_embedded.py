# CPU demo of DICM's stage 1 (semantic-guided MoCo v2) on the embedded data: the full-scale
# config with ResNet-18, 64-px views and 3 epochs (boxes from the backbone before epochs 1, 2).
# Run the four demo stages and a detector fine-tune in one go: tools/ssl_pipeline.py.
_base_ = ['../stage1_mocov2-ccrop_r50_8xb32-coslr-800e_in1k.py', '../_base_/embedded_demo.py']

model = _base_.demo_model  # mmdicm: ResNet-18, small queue and projection
train_dataloader = dict(  # mmdicm: embedded classification view, CPU batch
    _base_.demo_dataloader,
    dataset=dict(_base_.demo_dataset, pipeline=_base_.demo_ssl_pipeline))
custom_hooks = [  # mmdicm: boxes before every epoch from 1, at the demo's view size
    dict(type='SemanticBoxHook', interval=1, start=1, threshold=0.1,
         image_size=_base_.demo_size, batch_size=64)]

train_cfg = dict(max_epochs=3)  # mmdicm: a few CPU minutes
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = _base_.demo_default_hooks  # mmdicm: log every 8 iterations, keep 1 checkpoint
