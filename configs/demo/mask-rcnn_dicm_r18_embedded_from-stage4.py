# CPU twin of configs/mask-rcnn_dicm_from-stage4.py: the task stage on the embedded data after
# the four CPU stages (tools/ssl_pipeline.py). Stem + layer1, RE and codec come from the demo
# stage-4 checkpoint; the edge (everything that decides the bits) stays frozen, g_s, tail,
# FPN and heads train. Reads the same files as configs/demo/resnet18_dicm_embedded_image-cls
# _from-stage4.py. A smoke test of the chain, not a benchmark.
_base_ = './mask-rcnn_dicm_r18_embedded.py'

model = dict(
    backbone=dict(
        init_cfg=dict(  # mmdicm: the demo stage 4's result (tools/ssl_pipeline.py writes it)
            _delete_=True,  # (the demo base has none: trained from scratch)
            type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/ssl_pipeline/stage4/epoch_8.pth'),
        frozen_parts=('edge', )))  # mmdicm: the edge as stage 4 left it; g_s trains
