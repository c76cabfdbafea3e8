# DICM Faster R-CNN R-50-FPN on PASCAL VOC 07+12 (the paper's detection benchmark).
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', './_base_/dicm_runtime.py']

model = dict(
    backbone=dict(
        type='DICMResNet',  # mmdicm: ResNet-50 + RE + compression network after layer1
        codec=dict(),  # mmdicm: released widths (RE 128/192, codec 128/192, hyper 384)
        real_coding=True))  # mmdicm: val/test on real bitstreams (rANS encode -> decode)

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        '.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))  # mmdicm: aux params, no decay

# mmdicm: measured bpp of the real containers next to the task metrics, same pass
val_evaluator = [_base_.val_evaluator, dict(type='DICMBppMetric')]
test_evaluator = val_evaluator
