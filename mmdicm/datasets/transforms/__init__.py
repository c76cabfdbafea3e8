"""Data transforms mmdicm registers with mmcv's ``TRANSFORMS`` (``import mmdicm`` does it).

- :mod:`.guided_crop`: :class:`SemanticGuidedCrop`, the semantic-guided crop of DICM's
  contrastive pre-training, and the shared-memory :class:`SemanticBoxStore` behind it;
- :mod:`.codec_roundtrip`: :class:`PixelCodecRoundtrip`, a pixel-codec baseline as one step of
  a stock test pipeline (the codecs load when one is built);
- :mod:`.region_proposals`: :class:`GTBoxesAsProposals`, the annotated boxes as a stock Fast
  R-CNN's proposals (a classifier of regions).
"""
from .codec_roundtrip import PixelCodecRoundtrip
from .guided_crop import SemanticBoxStore, SemanticGuidedCrop, get_box_store
from .region_proposals import GTBoxesAsProposals

__all__ = ['SemanticBoxStore', 'SemanticGuidedCrop', 'get_box_store', 'PixelCodecRoundtrip',
           'GTBoxesAsProposals']
