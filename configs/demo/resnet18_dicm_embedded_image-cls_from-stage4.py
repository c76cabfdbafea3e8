# CPU twin of configs/resnet50_dicm_in1k_from-stage4.py: a classifier of whole embedded images
# (label: the category of the image's largest object, annotations/image_labels_*.txt) in the
# task stage after the four CPU stages (tools/ssl_pipeline.py). The edge stays as the demo
# stage 4 left it; g_s, layer2-4 and the head train. Its input is the detector demo's (the
# 256-px image, the same normalisation), so it reads the very files that
# configs/demo/mask-rcnn_dicm_r18_embedded_from-stage4.py's edge writes. Not a benchmark.
_base_ = '../resnet50_dicm_in1k_from-stage4.py'

data_root = 'data/embedded/'  # mmdicm: the detection images, whole
metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))  # mmdicm: its 4 classes

model = dict(
    backbone=dict(
        depth=18,  # mmdicm: the depth of the demo stages
        frozen_stages=-1,  # mmdicm: frozen_parts decides what trains
        init_cfg=dict(checkpoint='work_dirs/ssl_pipeline/stage4/epoch_8.pth')),  # mmdicm: demo
    head=dict(in_channels=512, num_classes=4, topk=(1, )))  # mmdicm: R-18 width, 4 classes
data_preprocessor = dict(num_classes=4)  # mmdicm: 4 classes

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='long'),  # mmdicm: the detector demo's input
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='long'),  # mmdicm: the detector demo's input
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8,  # mmdicm: CPU batch
    num_workers=2,
    dataset=dict(
        _delete_=True,  # mmdicm: the embedded images with image-level labels, not ImageNet
        type='CustomDataset', data_root=data_root, data_prefix='train/',
        ann_file='annotations/image_labels_train.txt', metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,  # mmdicm: CPU batch
    num_workers=2,
    dataset=dict(
        _delete_=True,  # mmdicm: the embedded images with image-level labels, not ImageNet
        type='CustomDataset', data_root=data_root, data_prefix='val/',
        ann_file='annotations/image_labels_val.txt', metainfo=metainfo,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmdicm: top-1 only (4 classes); measured bpp as in the real config
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='DICMBppMetric')]
test_evaluator = val_evaluator

# mmdicm: a few CPU minutes, iteration-based
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=200, val_interval=200)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=200, eta_min=1e-4),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=200),  # mmdicm: iteration-based
    logger=dict(interval=10))
log_processor = dict(by_epoch=False)
optim_wrapper = dict(optimizer=dict(lr=0.01))  # mmdicm: batch 8 (not tuned)
