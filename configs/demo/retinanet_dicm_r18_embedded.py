# CPU demo: DICM RetinaNet trained from scratch on the embedded shapes dataset
# (`tools/make_embedded_data.py --out data/embedded`). It is not a benchmark. Only data, input
# size, schedule and what training from scratch on a CPU needs differ from the real config.
# STATUS: the pipeline runs end to end (tests/engine/test_training_runs.py); slim widths and
# norms follow the Mask R-CNN demo's measured recipe, the schedule is not tuned for this model.
_base_ = '../retinanet_dicm.py'

data_root = 'data/embedded/'  # mmdicm: embedded dataset (generated offline, deterministic)
metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))  # mmdicm: its 4 classes
norm_cfg = dict(type='BN', requires_grad=True)  # mmdicm: norms in neck and head (below)

model = dict(
    backbone=dict(
        depth=18,  # mmdicm: shallow ResNet: no pretrained weights offline, CPU budget
        init_cfg=None,  # mmdicm: from scratch (no model hub here)
        frozen_stages=-1,  # mmdicm: nothing pretrained to freeze
        norm_eval=False),  # mmdicm: BN statistics must be learned
    # mmdicm: R-18 widths; "slim" FPN and head at 128 channels with BatchNorm, as the Mask
    # R-CNN demo (from scratch on a CPU)
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128, norm_cfg=norm_cfg),
    bbox_head=dict(in_channels=128, feat_channels=128, norm_cfg=norm_cfg, num_classes=4),
    test_cfg=dict(max_per_img=20))  # mmdicm: a few shapes per image

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),  # mmdicm: 256-px input (CPU)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),  # mmdicm: 256-px input (CPU)
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
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

# mmdicm: a few CPU minutes, iteration-based
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300, val_interval=300)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=300, milestones=[250], gamma=0.1),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=300),  # mmdicm: iteration-based
    logger=dict(interval=10))
log_processor = dict(by_epoch=False)
