# CPU demo of DICM-S: the embedded-data Mask R-CNN (mask-rcnn_dicm_r18_embedded.py) with the
# edge-sized codec (docs/dicm-s.md). Only the codec preset differs.
_base_ = './mask-rcnn_dicm_r18_embedded.py'

model = dict(backbone=dict(codec=dict(preset='s')))  # mmdicm: DICM-S (mmdicm.codec.CODEC_PRESETS)
