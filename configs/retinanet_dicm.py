# DICM RetinaNet R-50-FPN on COCO 2017 (one-stage detector on compressed-domain features).
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './_base_/dicm_runtime.py']

model = dict(backbone=dict(type='DICMResNet', codec=dict()))  # mmdicm: codec after layer1

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        '.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))  # mmdicm: aux params, no decay
