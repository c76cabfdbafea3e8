from .codec_neck import DICMCodecNeck

__all__ = ['DICMCodecNeck']
