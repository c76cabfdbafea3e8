# Rate sweep on the COCO-like split, frozen-task-model curve: DICM's compression network (no
# RE) trained for one λ under the frozen task model of faster-rcnn_r18_coco-like.py, on the
# split's training images at 256 px. Everything else as codec_r18_embedded_det.py.
_base_ = './codec_r18_embedded_det.py'

train_dataloader = dict(dataset=dict(data_root='data/embedded-coco-like/'))  # mmdicm: the split
