# DICM-S Mask R-CNN R-50-FPN on COCO 2017: the released config with the edge-sized codec
# (docs/dicm-s.md). Only the codec preset differs; checkpoints of the released widths do not
# load into it (one-line error naming the preset), nor its into them.
_base_ = './mask-rcnn_dicm.py'

model = dict(backbone=dict(codec=dict(preset='s')))  # mmdicm: DICM-S (mmdicm.codec.CODEC_PRESETS)
