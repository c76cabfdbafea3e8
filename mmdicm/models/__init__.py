"""OpenMMLab glue: registered backbone (and, later, necks and the SSL algorithm)."""
from .backbones import DICMResNet, DICMResNetV1d
from .necks import DICMCodecNeck

__all__ = ['DICMResNet', 'DICMResNetV1d', 'DICMCodecNeck']
