"""The learned codec between backbone head and tail (torch + CompressAI + timm only).

- :class:`REModule`: redundancy elimination autoencoder (rate-costed latent, not transmitted);
- :class:`DICMCompressionNet`: hyperprior compression network (a CompressAI model);
- :class:`DICMFeatureCodec`: both together, with real bitstreams;
- :mod:`~mmdicm.codec.bitstream`: the self-describing container and :class:`BitstreamError`
  (:mod:`~mmdicm.codec.files`: reading and writing container files;
  :mod:`~mmdicm.codec.fingerprint`: the model digest they carry);
- :mod:`~mmdicm.codec.rans`: the bounds-checked decoder of CompressAI's rANS strings.
"""
from .bitstream import BitstreamError, DICMBitstream, container_overhead, pack, unpack
from .files import read, write
from .compression_net import DICMCompressionNet
from . import rans
from .feature_codec import DEFAULT_MAX_PIXELS, DICMFeatureCodec
from .re_module import REModule

__all__ = ['BitstreamError', 'DICMBitstream', 'container_overhead', 'pack', 'unpack', 'read',
           'write', 'DEFAULT_MAX_PIXELS', 'DICMCompressionNet', 'DICMFeatureCodec', 'REModule',
           'rans']
