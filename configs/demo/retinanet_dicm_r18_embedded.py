# CPU demo: DICM RetinaNet trained from scratch on the embedded shapes dataset
# (`tools/make_embedded_data.py --out data/embedded`). It is not a benchmark. Only data, input
# size, schedule and what training from scratch on a CPU needs differ from the real config.
# STATUS: the pipeline runs end to end (tests/engine/test_training_runs.py); slim widths and
# norms follow the Mask R-CNN demo's measured recipe, the schedule is not tuned for this model.
_base_ = ['../retinanet_dicm.py', '../_base_/demo_embedded.py']

data_root = _base_.embedded_root  # mmdicm: embedded dataset (configs/_base_/demo_embedded.py)
metainfo = _base_.embedded_metainfo  # mmdicm: its 4 classes
norm_cfg = _base_.demo_norm_cfg  # mmdicm: BatchNorm in neck and heads (from scratch)

model = dict(
    backbone=_base_.demo_backbone,  # mmdicm: ResNet-18 from scratch, BN statistics learned
    # mmdicm: R-18 widths; "slim" FPN and head at 128 channels with BatchNorm, as the Mask
    # R-CNN demo (from scratch on a CPU)
    neck=_base_.demo_neck,  # mmdicm: R-18 widths, 128 channels, BatchNorm
    bbox_head=dict(in_channels=128, feat_channels=128, norm_cfg=norm_cfg, num_classes=4),
    test_cfg=dict(max_per_img=20))  # mmdicm: a few shapes per image

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    _base_.demo_resize,  # mmdicm: 256-px input (CPU)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    _base_.demo_resize,  # mmdicm: 256-px input (CPU)
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=_base_.demo_meta_keys),
]
train_dataloader = dict(
    batch_size=4,  # mmdicm: CPU batch
    dataset=dict(data_root=data_root, metainfo=metainfo,  # mmdicm: embedded data
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,  # mmdicm: CPU batch
    dataset=dict(data_root=data_root, metainfo=metainfo,  # mmdicm: embedded data
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [  # mmdicm: the embedded val split; measured bpp as in the real config
    dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json',
         metric='bbox', format_only=False, backend_args=None),
    dict(type='DICMBppMetric')]
test_evaluator = val_evaluator

# mmdicm: a few CPU minutes, iteration-based (configs/_base_/demo_embedded.py)
train_cfg = _base_.demo_train_cfg
param_scheduler = _base_.demo_param_scheduler
default_hooks = _base_.demo_default_hooks
log_processor = _base_.demo_log_processor
