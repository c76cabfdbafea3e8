# DICM-S Mask R-CNN, the task stage on a DICM-S stage-4 edge (the four stages run with
# --cfg-options model.backbone.codec.preset=s, docs/dicm-s.md). Only the codec preset differs
# from mask-rcnn_dicm_from-stage4.py. Needs the stage-4 checkpoint:
# --cfg-options model.backbone.init_cfg.checkpoint=<file>.
_base_ = './mask-rcnn_dicm_from-stage4.py'

model = dict(backbone=dict(codec=dict(preset='s')))  # mmdicm: DICM-S (mmdicm.codec.CODEC_PRESETS)
