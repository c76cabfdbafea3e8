# DICM training, stage 1 of 4: semantic-guided MoCo v2 pre-training of the plain ResNet-50
# (Tang, Yi, Wang, IEEE T-BC 2025). Positive crops are drawn inside a box around the object,
# computed from the backbone's own layer4 heatmap and refreshed every 20 epochs from epoch 20
# (ContrastiveCrop). No codec yet: the RE module joins in stage 2, the compression network in
# stage 4. Chain: stage1 -> stage2 -> stage3 -> stage4, each loading the previous checkpoint
# with `load_from`; the stage-4 checkpoint initialises the task configs (how: the docstring
# of mmdicm/models/selfsup/moco.py).
_base_ = ['mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
          '../_base_/dicm_runtime.py']

model = dict(
    type='DICMMoCoV2',  # mmdicm: MoCo v2 + weighted contrastive term (off in stages 2 and 4)
    contrastive_weight=1.0,  # mmdicm: released lambda_contr 1
    backbone=dict(
        type='DICMResNet',  # mmdicm: the split ResNet whose keys detectors load
        codec=None,  # mmdicm: stage 1 pre-trains the backbone alone (RE from stage 2)
        # mmdicm: BN statistics train, as in mmpretrain's MoCo (mmdet's ResNet default,
        # which DICMResNet keeps, is norm_eval=True: frozen statistics)
        norm_eval=False,
        out_indices=(3, )))  # mmdicm: mmdet's ResNet returns 4 stages; MoCoV2Neck takes layer4

# mmdicm: ContrastiveCrop's semantic-guided crop replaces RandomResizedCrop (same arguments;
# identical to it until the first box refresh)
view_pipeline = [
    dict(type='SemanticGuidedCrop', scale=224, crop_ratio_range=(0.2, 1.), backend='pillow',
         alpha=0.6),
    *_base_.view_pipeline[1:],
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    # mmdicm: mmengine would pass the `_scope_` key that a `mmpretrain::` base adds to every
    # type dict on to default_collate() as an argument
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(pipeline=train_pipeline))  # mmdicm: the guided views

custom_hooks = [  # mmdicm: no codec yet, so no rate hook; boxes every 20 epochs from 20
    dict(type='SemanticBoxHook', interval=20, start=20, threshold=0.1, image_size=224),
]

# mmdicm: 800 epochs, as the authors' README asks (200 degrade the compressed features)
train_cfg = dict(max_epochs=800)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=800, by_epoch=True, begin=0, end=800)]
