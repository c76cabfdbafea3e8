# DICM Faster R-CNN R-50-FPN on PASCAL VOC 07+12, the task stage after the four stages: the
# edge as stage 4 left it (frozen), g_s, tail, FPN and heads trained (see
# configs/mask-rcnn_dicm_from-stage4.py). Reads the same files as the other task models of
# that edge. Needs the stage-4 checkpoint: model.backbone.init_cfg.checkpoint=<file>.
_base_ = './faster-rcnn_dicm_voc0712.py'

model = dict(
    backbone=dict(
        init_cfg=dict(  # mmdicm: stem, layer1, RE and codec from the stage-4 checkpoint
            _delete_=True, type='DICMPretrained', prefix='backbone.',
            checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth'),
        frozen_parts=('edge', )))  # mmdicm: every bit-deciding part frozen; g_s trains
