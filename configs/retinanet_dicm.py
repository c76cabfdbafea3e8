# DICM RetinaNet R-50-FPN on COCO 2017 (one-stage detector on compressed-domain features).
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './_base_/dicm_runtime.py']

model = dict(
    backbone=dict(
        type='DICMResNet',  # mmdicm: ResNet-50 + RE + compression network after layer1
        # mmdicm: released widths (RE 128/192, codec 128/192, hyper 384) and blocks
        codec=dict(preset='release'),
        real_coding=True))  # mmdicm: val/test on real bitstreams (rANS encode -> decode)

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        'backbone.codec': dict(lr_mult=0.1),  # mmdicm: random-init codec at lr/10 (see README)
        # mmdicm: quantiles learn from the aux loss only, no weight decay (the longer key wins)
        'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))

# mmdicm: measured bpp of the real containers next to the task metrics, same pass
val_evaluator = [_base_.val_evaluator, dict(type='DICMBppMetric')]
test_evaluator = val_evaluator
