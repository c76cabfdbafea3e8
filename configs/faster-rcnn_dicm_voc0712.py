# DICM Faster R-CNN R-50-FPN on PASCAL VOC 07+12 (the paper's detection benchmark).
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', './_base_/dicm_runtime.py']

model = dict(backbone=dict(type='DICMResNet', codec=dict()))  # mmdicm: codec after layer1

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        '.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))  # mmdicm: aux params, no decay
