# Linear probe of DICM's features on ImageNet-1k, as the authors' release evaluates its SSL
# representation (MoCo's protocol: SGD lr 30, no weight decay, 130 epochs): the whole
# backbone -- edge, g_s and tail -- frozen from the stage-4 checkpoint, only the linear head
# trains, on features decoded from the edge's bitstream (real coding at val/test).
# Needs the stage-4 checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=<file>.
_base_ = ['mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py',
          './_base_/dicm_runtime.py']

model = dict(
    backbone=dict(
        type='DICMResNet',  # mmdicm: ResNet-50 + RE + compression network after layer1
        codec=dict(preset='release'),  # mmdicm: the released model, as the stage-4 checkpoint
        frozen_stages=-1,  # mmdicm: frozen_parts below freezes everything instead
        frozen_parts=('edge', 'g_s', 'tail'),  # mmdicm: a linear probe: nothing but the head
        real_coding=True,  # mmdicm: val/test on real bitstreams
        init_cfg=dict(
            _delete_=True, type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth')))

train_cfg = dict(max_epochs=130)  # mmdicm: the release's probe length (the base's steps stay)
val_evaluator = [_base_.val_evaluator, dict(type='DICMBppMetric')]  # mmdicm: real bytes too
test_evaluator = val_evaluator
