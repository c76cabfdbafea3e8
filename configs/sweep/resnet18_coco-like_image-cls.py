# Rate sweep on the COCO-like split: the classifier task model of the classification curve,
# trained once on *uncompressed* whole images (label: the category of the image's largest
# object), its backbone from the sweep's pre-training on the object crops (the sweep sets
# init_cfg, as for the detector). The pixel codecs' classification points are this model on
# decoded images; each λ's DICM point starts its task stage from it
# (resnet18_dicm_coco-like_image-cls_task-stage.py = this plus the codec).
_base_ = './resnet18_dicm_coco-like_image-cls_task-stage.py'

model = dict(
    backbone=dict(
        codec=None,  # mmdicm: no codec: f1 goes straight into the tail (a plain ResNet-18)
        real_coding=False,  # mmdicm: nothing to code
        frozen_parts=()))  # mmdicm: everything trains
custom_hooks = []  # mmdicm: no codec, so no rate, entropy-table or bitstream hooks
val_evaluator = [dict(type='Accuracy', topk=(1, ))]  # mmdicm: no bitstream to measure
test_evaluator = val_evaluator

# mmdicm: 600 iterations of batch 8 (~5 epochs of the 1000 training images), SGD 0.01 with
# warm-up and cosine, from the pre-trained backbone
max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=10**9)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters,
         T_max=max_iters - 30, eta_min=1e-4)]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
