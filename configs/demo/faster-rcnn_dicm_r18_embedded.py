# CPU demo: DICM Faster R-CNN (the paper's detection model) trained from scratch on the
# embedded shapes dataset (`tools/make_embedded_data.py --out data/embedded`), evaluated with
# the real config's VOC mAP. It is not a benchmark. Only data, input size, schedule and what
# training from scratch on a CPU needs differ from the real config.
# STATUS: the pipeline runs end to end (tests/engine/test_training_runs.py); heads and norms
# follow the Mask R-CNN demo's measured recipe, the schedule is not tuned for this model.
_base_ = ['../faster-rcnn_dicm_voc0712.py', '../_base_/demo_embedded.py']

data_root = _base_.embedded_root  # mmdicm: embedded dataset (configs/_base_/demo_embedded.py)
metainfo = _base_.embedded_metainfo  # mmdicm: its 4 classes
norm_cfg = _base_.demo_norm_cfg  # mmdicm: BatchNorm in neck and heads (from scratch)

model = dict(
    backbone=_base_.demo_backbone,  # mmdicm: ResNet-18 from scratch, BN statistics learned
    # mmdicm: "slim" heads with BatchNorm, as the Mask R-CNN demo (from scratch on a CPU)
    neck=_base_.demo_neck,  # mmdicm: R-18 widths, 128 channels, BatchNorm
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

# mmdicm: a few CPU minutes, iteration-based (configs/_base_/demo_embedded.py)
train_cfg = _base_.demo_train_cfg
param_scheduler = _base_.demo_param_scheduler
default_hooks = _base_.demo_default_hooks
log_processor = _base_.demo_log_processor
