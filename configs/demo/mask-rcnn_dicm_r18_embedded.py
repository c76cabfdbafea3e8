# CPU demo: DICM Mask R-CNN trained from scratch on the embedded shapes dataset
# (`tools/make_embedded_data.py --out data/embedded`), run by `make demo` (tools/demo.py). It is
# not a benchmark. Only data, input size, schedule and what training from scratch on a CPU
# needs differ from the real config. Measured on 2 cores (300 it, ~2 s/it when the machine is
# otherwise idle), `make demo`: bbox mAP 0.040 / mAP50 0.104, segm mAP 0.039 / mAP50 0.104 on
# real bitstreams at 0.70 bpp (untrained: 0.000 at 11.2 bpp); another run 0.056 / 0.054.
_base_ = '../mask-rcnn_dicm.py'

data_root = 'data/embedded/'  # mmdicm: embedded dataset (generated offline, deterministic)
metainfo = dict(classes=('circle', 'triangle', 'rectangle', 'star'))  # mmdicm: its 4 classes
norm_cfg = dict(type='BN', requires_grad=True)  # mmdicm: norms in neck and RoI heads (below)

model = dict(
    backbone=dict(
        depth=18,  # mmdicm: shallow ResNet: no pretrained weights offline, CPU budget
        init_cfg=None,  # mmdicm: from scratch (no model hub here)
        frozen_stages=-1,  # mmdicm: nothing pretrained to freeze
        norm_eval=False),  # mmdicm: BN statistics must be learned
    # mmdicm: "slim" heads (5x faster per iteration on CPU than stock widths) with BatchNorm
    # (trains from scratch at the zoo's lr 0.02: bbox mAP 0.056 at 300 it; without the norms
    # 0.02 diverged and 0.005 reached bbox mAP 0.001 at 150 it, measured)
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128, norm_cfg=norm_cfg),
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
    dict(type='Resize', scale=(256, 256), keep_ratio=True),  # mmdicm: 256-px input (CPU)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),  # mmdicm: 256-px input (CPU)
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
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
