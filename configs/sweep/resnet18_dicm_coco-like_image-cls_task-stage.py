# Rate sweep on the COCO-like split, the classification curve of ONE bitstream
# (tools/rate_sweep.py --task detection-coco-like): per λ, a whole-image classifier's task
# stage on the *detector's* frozen edge of that λ. The sweep loads a merged checkpoint with
# load_from: stem, layer1 and codec from the λ's DICM detector (so the bits are the
# detector's, to the byte), layer2-4 and head from the classifier task model
# (resnet18_coco-like_image-cls.py, this minus the codec). g_s, layer2-4 and the head train
# on the decoded features; the classifier then reads the very .dicm files the detector's edge
# wrote (tools/compress.py once, tools/analyze.py per task model). Its label is the category
# of the image's largest object (annotations/image_labels_*.txt); its input the detector's
# (the 256-px image, the same normalisation), so it can read those files at all.
_base_ = ['../demo/resnet18_dicm_embedded_image-cls_from-stage4.py',
          '../_base_/coco_like_embedded.py']

data_root = _base_.coco_like_root  # mmdicm: the COCO-like split, whole images
metainfo = _base_.coco_like_metainfo  # mmdicm: its 10 classes
num_classes = _base_.coco_like_num_classes

model = dict(
    backbone=dict(
        codec=dict(re=None),  # mmdicm: the sweep's codec (no RE), as the detector's
        init_cfg=None),  # mmdicm: every weight comes from the sweep's merged checkpoint
    head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader

# mmdicm: fine-tuning a trained receiver, as the detector's task stage: 1/10 of the task
# model's lr, cosine, no val (the sweep tests once, on the detector's files)
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=10**9)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
                        T_max=max_iters, eta_min=1e-5)]
optim_wrapper = dict(optimizer=dict(lr=0.001))
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
