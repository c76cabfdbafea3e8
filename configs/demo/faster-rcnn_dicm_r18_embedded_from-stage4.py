# CPU twin of configs/faster-rcnn_dicm_voc0712_from-stage4.py: the detection task stage on the
# embedded data after the four CPU stages (tools/ssl_pipeline.py), VOC mAP as the real config.
# The edge stays as the demo stage 4 left it; g_s, tail, FPN and heads train. Reads the same
# files as the other *_from-stage4.py demos. Not in the chain by default (CPU minutes):
# `python tools/train.py configs/demo/faster-rcnn_dicm_r18_embedded_from-stage4.py` after it.
_base_ = './faster-rcnn_dicm_r18_embedded.py'

model = dict(
    backbone=dict(
        init_cfg=dict(  # mmdicm: the demo stage 4's result (tools/ssl_pipeline.py writes it)
            _delete_=True,  # (the demo base has none: trained from scratch)
            type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/ssl_pipeline/stage4/epoch_8.pth'),
        frozen_parts=('edge', )))  # mmdicm: the edge as stage 4 left it; g_s trains
