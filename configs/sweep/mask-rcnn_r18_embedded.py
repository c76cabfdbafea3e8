# Rate sweep, detection (tools/rate_sweep.py --task detection): the task model, trained once
# on *uncompressed* features; every point of the sweep is evaluated with it (pixel codecs on
# decoded images, DICM on decoded features: configs/sweep/codec_r18_embedded_det.py trains
# the codec per λ under this frozen model). The DICM demo Mask R-CNN minus its codec.
_base_ = '../demo/mask-rcnn_dicm_r18_embedded.py'

model = dict(
    backbone=dict(
        codec=None,  # mmdicm: no codec: f1 goes straight into the tail (a plain ResNet-18)
        real_coding=False))  # mmdicm: nothing to code
custom_hooks = []  # mmdicm: no codec, so no rate, entropy-table or bitstream hooks
val_evaluator = [  # mmdicm: COCO metrics only (no bitstream to measure)
    dict(type='CocoMetric', ann_file='data/embedded/annotations/instances_val.json',
         metric=['bbox', 'segm'], format_only=False, backend_args=None)]
test_evaluator = val_evaluator
