# Rate sweep on the COCO-like split (tools/rate_sweep.py --task detection-coco-like): the task
# model, trained once on *uncompressed* images until its validation mAP stops rising; every
# pixel-codec point and the frozen-task-model DICM curve are evaluated with it. The sweep's
# DICM detector (faster-rcnn_dicm_r18_coco-like.py) minus its codec.
_base_ = './faster-rcnn_dicm_r18_coco-like.py'

model = dict(
    backbone=dict(
        codec=None,  # mmdicm: no codec: f1 goes straight into the tail (a plain ResNet-18)
        real_coding=False))  # mmdicm: nothing to code
custom_hooks = []  # mmdicm: no codec, so no rate, entropy-table or bitstream hooks
val_evaluator = [  # mmdicm: COCO's bbox mAP only (no bitstream to measure)
    dict(type='CocoMetric', ann_file='data/embedded-coco-like/annotations/instances_val.json',
         metric='bbox', format_only=False, backend_args=None)]
test_evaluator = val_evaluator
