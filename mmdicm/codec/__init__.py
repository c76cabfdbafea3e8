"""The learned codec between backbone head and tail (torch + CompressAI + timm; SciPy, a
CompressAI dependency, for the mixture tables).

- :class:`REModule`: redundancy elimination autoencoder (rate-costed latent, not transmitted);
- :class:`DICMCompressionNet`: hyperprior compression network (a CompressAI model); its
  entropy model of y is a Gaussian from h_s or (``entropy_model='context_mixture'``,
  :mod:`~mmdicm.codec.context_mixture`, :mod:`~mmdicm.codec.mixture`) the release's
  Gaussian mixture with a Transformer context model, coded in two checkerboard passes;
- :class:`DICMFeatureCodec`: both together, with real bitstreams; :data:`CODEC_PRESETS`
  (``'release'``, the default: the authors' code's blocks; ``'mmdicm-v1'``; ``'s'``: DICM-S);
- :mod:`~mmdicm.codec.bitstream`: the self-describing container and :class:`BitstreamError`
  (:mod:`~mmdicm.codec.files`: reading and writing container files;
  :mod:`~mmdicm.codec.fingerprint`: the model digest they carry);
- :func:`likelihood_bpp` (:mod:`~mmdicm.codec.rate`): estimated bits per pixel, for rate losses;
- :mod:`~mmdicm.codec.rans`: the bounds-checked decoder of CompressAI's rANS strings (and an
  encoder of the same strings from NumPy arrays).
"""
from .bitstream import BitstreamError, DICMBitstream, container_overhead, pack, unpack
from .files import read, write
from .compression_net import DICMCompressionNet
from . import rans
from .feature_codec import (CODEC_PRESET_REVISIONS, CODEC_PRESETS, DEFAULT_MAX_PIXELS,
                            DEFAULT_PRESET, DICMFeatureCodec)
from .rate import likelihood_bpp
from .re_module import REModule

__all__ = ['BitstreamError', 'DICMBitstream', 'container_overhead', 'pack', 'unpack', 'read',
           'write', 'CODEC_PRESET_REVISIONS', 'CODEC_PRESETS', 'DEFAULT_MAX_PIXELS',
           'DEFAULT_PRESET', 'DICMCompressionNet', 'DICMFeatureCodec', 'REModule',
           'likelihood_bpp', 'rans']
