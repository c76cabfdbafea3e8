# DICM Mask R-CNN R-50-FPN on COCO 2017, the task stage after DICM's four training stages
# (configs/ssl/): backbone, RE and compression network from the stage-4 checkpoint. The edge
# -- stem + layer1, RE, g_a, h_a, h_s and the entropy models, everything that decides the
# bits -- stays exactly as stage 4 left it, so this detector reads the same files as every
# other task model of that edge (configs/*_from-stage4.py). g_s, tail, FPN and heads train.
# configs/mask-rcnn_dicm.py instead trains a randomly initialised RE and codec end to end.
# Needs the stage-4 checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=<file>.
_base_ = './mask-rcnn_dicm.py'

model = dict(
    backbone=dict(
        # mmdicm: stem + layer1, RE and codec from the stage-4 checkpoint (its keys
        # backbone.*; DICMPretrained reads Runner checkpoints under torch >= 2.6)
        init_cfg=dict(
            _delete_=True, type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth'),
        # mmdicm: the edge frozen (no gradients, eval mode: the rounded latents the edge
        # sends); g_s stays trainable, each task adapts its decoder at no cost in bits
        # (frozen_parts=('edge', 'g_s') shares one decoder between task models instead)
        frozen_parts=('edge', )))
# Everything else is the base's: g_s keeps the codec's lr / 10; the rate loss is logged but
# constant (nothing that decides the bits trains); val/test code real bytes.
