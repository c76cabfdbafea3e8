# Rate sweep on the COCO-like split, frozen-task-model curve: DICM's compression network (no
# RE) trained for one λ under the frozen task model of faster-rcnn_r18_coco-like.py, on the
# split's training images at 256 px. Everything else as codec_r18_embedded_det.py.
_base_ = './codec_r18_embedded_det.py'

train_dataloader = dict(dataset=dict(data_root='data/embedded-coco-like/'))  # mmdicm: the split
# mmdicm: the learning rate anneals within each run. A by-epoch cosine steps only at epoch
# ends: at the sweep's --codec-epochs 1 each λ's whole run stayed at lr 3e-4, and began at
# full lr with fresh AdamW moments (distortion 0.36 -> 0.56 over its first quarter after the
# warm start, measured 2026-12-03). Now: 25 iterations of warm-up, then a cosine to 0 that
# steps every iteration (set_epochs still stretches it to the run).
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=25),
    dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True)]
