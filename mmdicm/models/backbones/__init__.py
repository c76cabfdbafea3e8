from .dicm_resnet import DICMResNet, DICMResNetV1d

__all__ = ['DICMResNet', 'DICMResNetV1d']
