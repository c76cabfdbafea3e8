# DICM Mask R-CNN R-50-FPN on COCO 2017, fine-tuned on the codec of DICM's four training
# stages (configs/ssl/): backbone + RE + compression network from the stage-4 checkpoint; RE
# stays as the semantic-guided stages 2-3 trained it (frozen, as stage 4 keeps it), the
# compression network, tail, FPN and heads train under the rate loss.
# configs/mask-rcnn_dicm.py instead trains a randomly initialised RE and codec end to end.
# Needs the stage-4 checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=<file>.
_base_ = './mask-rcnn_dicm.py'

model = dict(
    backbone=dict(
        # mmdicm: stem + layer1 (mmdet's frozen_stages=1, as in the base), RE and codec from
        # the stage-4 checkpoint (its keys backbone.*; DICMPretrained reads Runner checkpoints)
        init_cfg=dict(
            _delete_=True, type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth'),
        # mmdicm: RE keeps its semantic pre-training; frozen it runs in eval mode, i.e. the
        # rounded RE latent the edge sends, and it needs no backward (neither does the head)
        frozen_parts=('re', )))
# Everything else is the base's: the compression network keeps its lr / 10 (now fine-tuning a
# trained codec), the rate loss counts RE's bits too (fixed here), val/test code real bytes.
