# DICM ResNet-50 classifier on ImageNet-1k (mmpretrain's stock ImageClassifier).
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py', './_base_/dicm_runtime.py']

model = dict(backbone=dict(type='DICMResNet', codec=dict()))  # mmdicm: codec after layer1

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={
        '.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))  # mmdicm: aux params, no decay
