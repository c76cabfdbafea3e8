# CPU demo: DICM Faster R-CNN (the paper's detection model) trained from scratch on the
# embedded shapes dataset (`tools/make_embedded_data.py --out data/embedded`), evaluated with
# the real config's VOC mAP. It is not a benchmark. Only data, input size, schedule and what
# training from scratch on a CPU needs differ from the real config.
# STATUS: the pipeline runs end to end (tests/engine/test_training_runs.py); heads and norms
# follow the Mask R-CNN demo's measured recipe, the schedule is not tuned for this model.
_base_ = '../faster-rcnn_dicm_voc0712.py'

data_root = 'data/embedded/'  # mmdicm: embedded dataset (generated offline, deterministic)
metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))  # mmdicm: its 4 classes
norm_cfg = dict(type='BN', requires_grad=True)  # mmdicm: norms in neck and RoI head (below)

model = dict(
    backbone=dict(
        depth=18,  # mmdicm: shallow ResNet: no pretrained weights offline, CPU budget
        init_cfg=None,  # mmdicm: from scratch (no model hub here)
        frozen_stages=-1,  # mmdicm: nothing pretrained to freeze
        norm_eval=False),  # mmdicm: BN statistics must be learned
    # mmdicm: "slim" heads with BatchNorm, as the Mask R-CNN demo (from scratch on a CPU)
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=128, conv_out_channels=128,
                       fc_out_channels=256, norm_cfg=norm_cfg, num_classes=4)),
    train_cfg=dict(rpn_proposal=dict(max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(max_per_img=300), rcnn=dict(max_per_img=20)))

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
    dataset=dict(
        _delete_=True,  # mmdicm: the embedded data (COCO format), not VOC07+12 x3
        type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,  # mmdicm: CPU batch
    dataset=dict(
        _delete_=True,  # mmdicm: the embedded val split (COCO format), not VOC2007 test
        type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
        test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

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
