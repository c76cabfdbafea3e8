# CPU demo: DICM Mask R-CNN trained from scratch on the embedded shapes dataset
# (`tools/make_embedded_data.py --out data/embedded`), run by `make demo` (tools/demo.py). It is
# not a benchmark. Only data, input size, schedule and what training from scratch on a CPU
# needs differ from the real config. Measured on 2 cores (300 it, ~2 s/it when the machine is
# otherwise idle), `make demo`: bbox mAP 0.040 / mAP50 0.104, segm mAP 0.039 / mAP50 0.104 on
# real bitstreams at 0.70 bpp (untrained: 0.000 at 11.2 bpp); another run 0.056 / 0.054.
_base_ = ['../mask-rcnn_dicm.py', '../_base_/demo_embedded.py']

data_root = _base_.embedded_root  # mmdicm: embedded dataset (configs/_base_/demo_embedded.py)
metainfo = _base_.embedded_metainfo  # mmdicm: its 4 classes
norm_cfg = _base_.demo_norm_cfg  # mmdicm: BatchNorm in neck and heads (from scratch)

model = dict(
    backbone=_base_.demo_backbone,  # mmdicm: ResNet-18 from scratch, BN statistics learned
    # mmdicm: "slim" heads (5x faster per iteration on CPU than stock widths) with BatchNorm
    # (trains from scratch at the zoo's lr 0.02: bbox mAP 0.056 at 300 it; without the norms
    # 0.02 diverged and 0.005 reached bbox mAP 0.001 at 150 it, measured)
    neck=_base_.demo_neck,  # mmdicm: R-18 widths, 128 channels, BatchNorm
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128, roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=128, conv_out_channels=128,
                       fc_out_channels=256, norm_cfg=norm_cfg, num_classes=4),
        mask_roi_extractor=dict(out_channels=128, roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(num_convs=2, in_channels=128, conv_out_channels=128, norm_cfg=norm_cfg,
                       num_classes=4)),
    train_cfg=dict(rpn_proposal=dict(max_per_img=300), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(max_per_img=300), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    _base_.demo_resize,  # mmdicm: 256-px input (CPU)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    _base_.demo_resize,  # mmdicm: 256-px input (CPU)
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=_base_.demo_meta_keys),
]
train_dataloader = dict(
    batch_size=4,  # mmdicm: CPU batch
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo,  # mmdicm: embedded data
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo,  # mmdicm: embedded data
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [  # mmdicm: the embedded val split; measured bpp as in the real config
    dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json',
         metric=['bbox', 'segm'], format_only=False, backend_args=None),
    dict(type='DICMBppMetric')]
test_evaluator = val_evaluator

# mmdicm: a few CPU minutes, iteration-based (configs/_base_/demo_embedded.py)
train_cfg = _base_.demo_train_cfg
param_scheduler = _base_.demo_param_scheduler
default_hooks = _base_.demo_default_hooks
log_processor = _base_.demo_log_processor
