# CPU demo: DICM ResNet-18 classifier (mmpretrain's stock ImageClassifier) trained from
# scratch on the classification view of the embedded shapes dataset (one crop per object,
# `tools/make_embedded_data.py --out data/embedded`). It is not a benchmark. Only data, input
# size, schedule and what training from scratch on a CPU needs differ from the real config.
# STATUS: the pipeline runs end to end (tests/engine/test_training_runs.py); the schedule is
# not tuned.
_base_ = '../resnet50_dicm_in1k.py'

data_root = 'data/embedded/classification/'  # mmdicm: crops of the embedded dataset
metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))  # mmdicm: its 4 classes

model = dict(
    backbone=dict(
        depth=18,  # mmdicm: shallow ResNet: no pretrained weights offline, CPU budget
        init_cfg=None),  # mmdicm: from scratch (no model hub here)
    head=dict(in_channels=512, num_classes=4, topk=(1, )))  # mmdicm: R-18 width, 4 classes
data_preprocessor = dict(num_classes=4)  # mmdicm: 4 classes

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=128),  # mmdicm: 128-px crops (the crops' size)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=128, edge='short'),  # mmdicm: 128-px input
    dict(type='CenterCrop', crop_size=128),  # mmdicm: 128-px input
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,  # mmdicm: CPU batch
    num_workers=2,
    dataset=dict(
        _delete_=True,  # mmdicm: annotation-file list of the embedded crops, not ImageNet
        type='CustomDataset', data_root=data_root, ann_file='train.txt', metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,  # mmdicm: CPU batch
    num_workers=2,
    dataset=dict(
        _delete_=True,  # mmdicm: annotation-file list of the embedded crops, not ImageNet
        type='CustomDataset', data_root=data_root, ann_file='val.txt', metainfo=metainfo,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmdicm: top-1 only (4 classes); measured bpp as in the real config
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='DICMBppMetric')]
test_evaluator = val_evaluator

# mmdicm: a few CPU minutes, iteration-based
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300, val_interval=300)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=300, eta_min=1e-4),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=300),  # mmdicm: iteration-based
    logger=dict(interval=10))
log_processor = dict(by_epoch=False)
optim_wrapper = dict(optimizer=dict(lr=0.01))  # mmdicm: batch 16, from scratch (not tuned)
