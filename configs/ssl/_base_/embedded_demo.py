# What the CPU demos of the SSL stages (configs/ssl/demo/) change in the full-scale configs:
# the embedded dataset's classification view (`tools/make_embedded_data.py --out
# data/embedded`: 1027 object crops of 128 px, 4 shapes) instead of ImageNet, 64-px views, a
# ResNet-18 and a small queue. Inherit it next to a full-scale stage config; the demo config
# picks the pieces by name (the names here are new keys, so the two bases never clash).
# A demo proves that the four stages run and chain; it is not a benchmark.
demo_dataset = dict(
    _delete_=True,  # mmdicm: not ImageNet's arguments (split=...)
    type='CustomDataset',
    data_root='data/embedded/classification/',
    ann_file='train.txt',  # lines 'train/000001_0.jpg <label>'; the labels are unused
    data_prefix='',
    indices=256)  # the first 256 of the 1027 crops: 8 iterations per epoch (CPU minutes)
demo_size = 64  # px of every view (the codec pads to 64: no padding at this size)
demo_model = dict(
    queue_len=1024,  # a multiple of the batch (32), filled within one epoch
    feat_dim=64,
    backbone=dict(depth=18),  # the depth of the Mask R-CNN demo, which loads stage 4
    neck=dict(in_channels=512, hid_channels=256, out_channels=64))
demo_ssl_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[[
        dict(type='SemanticGuidedCrop', scale=demo_size, crop_ratio_range=(0.2, 1.),
             backend='pillow', alpha=0.6),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='RandomFlip', prob=0.5)]]),  # (no blur: 64-px views)
    dict(type='PackInputs'),
]
demo_codec_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[[
        dict(type='RandomResizedCrop', scale=demo_size, crop_ratio_range=(0.2, 1.),
             backend='pillow'),
        dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
demo_dataloader = dict(batch_size=32, num_workers=2)
demo_default_hooks = dict(
    logger=dict(interval=8),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
