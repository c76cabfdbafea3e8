# DICM ResNet-50 classifier on ImageNet-1k, the task stage after the four stages: the edge
# as stage 4 left it (frozen), g_s, layer2-4 and the head fine-tuned (see
# configs/mask-rcnn_dicm_from-stage4.py). Reads the same files as the detectors of that edge.
# The released evaluation of the SSL features is the linear probe:
# configs/resnet50_dicm_in1k_linear-probe.py. Needs model.backbone.init_cfg.checkpoint=<file>.
_base_ = './resnet50_dicm_in1k.py'

model = dict(
    backbone=dict(
        init_cfg=dict(  # mmdicm: stem, layer1, RE and codec from the stage-4 checkpoint
            type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth'),
        frozen_parts=('edge', )))  # mmdicm: every bit-deciding part frozen; g_s trains
