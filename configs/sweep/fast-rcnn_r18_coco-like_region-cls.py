# Rate sweep on the COCO-like split: a classifier of *regions* (not yet a phase of
# tools/rate_sweep.py). mmdet's stock FastRCNN (the RoI head on given proposals, no RPN)
# whose proposals are the annotated boxes (mmdicm's GTBoxesAsProposals, in the test pipeline
# too): it names each object given where it is, scored per object by RegionAccuracy (top-1
# over the objects, and by COCO's size bands). The whole-image classifier learns nothing on
# this split, a classifier of object crops ranks the pixel codecs
# (docs/results/coco-like/1x/README.md); this is that task on the detector's own model, so
# that the same recipe can read DICM's decoded features (that side is not built yet). The
# task model (faster-rcnn_r18_coco-like.py) minus its RPN; its backbone from the sweep's crop
# pre-training (set by whoever trains it, as the sweep does for the detector).
_base_ = './faster-rcnn_r18_coco-like.py'

model = dict(
    _delete_=True,  # mmdicm: FastRCNN takes no rpn_head: the detector's model without it
    **{k: v for k, v in _base_.model.items() if k not in ('type', 'rpn_head', 'test_cfg')},
    type='FastRCNN',
    # raw scores per proposal (no NMS, no threshold): the i-th row is the i-th object's
    test_cfg=dict(rcnn=None))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='GTBoxesAsProposals'),  # mmdicm: the objects' boxes are the proposals
    dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),  # mmdicm: before Resize (boxes resized)
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='GTBoxesAsProposals'),  # mmdicm: given at test time too
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [dict(type='RegionAccuracy')]  # mmdicm: top-1 per object
test_evaluator = val_evaluator

# mmdicm: a tenth of the detector's lr. At its 0.02 (from the crop pre-training, batch 4) the
# RoI head collapsed to uniform logits: loss_cls pinned at ln 10, top-1 10.0 / 10.2 / 11.8 /
# 9.6 % at 500-2000 iterations; at 0.002 it learns: 18.1 / 20.5 / 24.7 % at 200 / 400 / 600
# (100 val images, 2026-12-05). The detector's 1x schedule otherwise.
optim_wrapper = dict(optimizer=dict(lr=0.002))
