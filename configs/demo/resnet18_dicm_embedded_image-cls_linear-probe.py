# CPU twin of configs/resnet50_dicm_in1k_linear-probe.py: the release's evaluation of the SSL
# features -- everything frozen (edge, g_s, tail) but a linear head -- on the whole embedded
# images of the chain's classifier (configs/demo/resnet18_dicm_embedded_image-cls_from-stage4
# .py), after the four CPU stages (tools/ssl_pipeline.py). MoCo's probe recipe: SGD lr 30, no
# weight decay. Not in the chain by default: `python tools/train.py <this config>` after it.
_base_ = './resnet18_dicm_embedded_image-cls_from-stage4.py'

model = dict(backbone=dict(frozen_parts=('edge', 'g_s', 'tail')))  # mmdicm: a linear probe
optim_wrapper = dict(  # mmdicm: MoCo's linear probe (the full-scale probe's optimizer)
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
