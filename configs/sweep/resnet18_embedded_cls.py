# Rate sweep, classification (tools/rate_sweep.py): the task model, trained once on
# *uncompressed* features. Every point of the sweep is evaluated with this one model: the
# pixel-codec baselines on decoded images, DICM on decoded features (its RE module and
# compression network trained per λ under this frozen model: configs/sweep/codec_r18_embedded_cls.py).
# Same model, same data: only the codec differs. The sweep's DICM classifier minus its codec.
_base_ = './resnet18_dicm_embedded_cls.py'

model = dict(
    backbone=dict(
        codec=None,  # mmdicm: no codec: f1 goes straight into the tail (a plain ResNet-18)
        real_coding=False))  # mmdicm: nothing to code
custom_hooks = []  # mmdicm: no codec, so no rate, entropy-table or bitstream hooks
val_evaluator = [dict(type='Accuracy', topk=(1, ))]  # mmdicm: no bitstream to measure
test_evaluator = val_evaluator
