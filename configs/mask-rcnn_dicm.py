# DICM Mask R-CNN R-50-FPN on COCO 2017: stock mmdet detector, backbone split by the codec.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', './_base_/dicm_runtime.py']

model = dict(
    backbone=dict(
        type='DICMResNet',  # mmdicm: ResNet-50 + RE + compression network after layer1
        split_stage=0,  # mmdicm: the paper's split (after layer1)
        # mmdicm: released widths (RE 128/192, codec 128/192, hyper 384) and blocks
        codec=dict(preset='release'),
        real_coding=True))  # mmdicm: val/test on real bitstreams (rANS encode -> decode)

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        # mmdicm: the randomly initialised codec at a tenth of the task lr (at SGD 0.02 it
        # diverged within 40 iterations in the CPU demo: every latent at the likelihood floor)
        'backbone.codec': dict(lr_mult=0.1),
        # mmdicm: entropy-model quantiles learn from the aux loss only, no weight decay (a
        # longer key than 'backbone.codec': mmengine matches the longest key first)
        'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))

# mmdicm: measured bpp of the real containers next to the task metrics, same pass
val_evaluator = [_base_.val_evaluator, dict(type='DICMBppMetric')]
test_evaluator = val_evaluator
