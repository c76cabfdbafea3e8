# Rate sweep on the COCO-like split: the task detector's backbone pre-training (what ImageNet
# is to a zoo detector, on the split's own training data): a ResNet-18 classifier on the
# object crops of data/embedded-coco-like/classification (10 classes), the sweep's
# classification recipe (64-px crops, AdamW, 3000 iterations). tools/rate_sweep.py --task detection-coco-like
# trains it first and starts faster-rcnn_r18_coco-like.py's backbone from it: from scratch
# the CPU detector reached bbox mAP 0.001 after 600 of 1800 iterations (measured).
_base_ = ['./resnet18_embedded_cls.py', '../_base_/coco_like_embedded.py']

data_root = _base_.coco_like_root + 'classification/'  # mmdicm: the split's object crops
metainfo = _base_.coco_like_metainfo  # mmdicm: its 10 classes
num_classes = _base_.coco_like_num_classes
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader

# mmdicm: 3000 iterations (~9 CPU min; 1000 gave 27 % top-1 on the 10 classes, loss 1.87)
iters = 3000
train_cfg = dict(max_iters=iters, val_interval=iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=iters, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=iters))
