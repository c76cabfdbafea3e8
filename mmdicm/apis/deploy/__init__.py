"""Deployment: images -> container files on the edge (:mod:`.compress`), container files ->
task predictions on the receiver (:mod:`.analyze`); what ``tools/compress.py`` and
``tools/analyze.py`` run. The manifest, its rates and the bit map: ``docs/deployment.md``."""
from ...models import inject_backbone_features  # re-exported: it lives in mmdicm.models
from .analyze import (AnalyzeResult, analyze_bitstreams, check_analyze_inputs,
                      format_analyze_summary)
from .bit_map import (SIZE_CLASSES, BitAllocation, bit_allocation, box_densities, box_shares,
                      render_bit_map)
from .compress import CompressResult, check_outputs, compress_images, format_compress_summary
from .inputs import (IMAGE_EXTENSIONS, ImageFileError, ImageRecord, ImageSet, check_image_file,
                     find_images)
from .manifest import MANIFEST_CSV, MANIFEST_JSON
from .model import DeployError, DeployModel, EdgeMismatchError, load_deploy_model

# public in the one-file module without being in its __all__: still importable from here
from .manifest import (BIT_GRID_SUFFIX, BIT_MAP_SUFFIX, CONTAINER_SUFFIX,  # noqa: F401
                       CSV_FIELDS, MANIFEST_FORMAT, MANIFEST_VERSION, RATE_DEFINITIONS)
from .model import ANNOTATION_TRANSFORMS  # noqa: F401

__all__ = [
    'AnalyzeResult', 'BitAllocation', 'CompressResult', 'DeployError', 'DeployModel',
    'EdgeMismatchError',
    'IMAGE_EXTENSIONS', 'ImageFileError', 'ImageRecord', 'ImageSet', 'MANIFEST_CSV',
    'MANIFEST_JSON', 'SIZE_CLASSES', 'analyze_bitstreams', 'bit_allocation', 'box_densities',
    'box_shares', 'check_analyze_inputs',
    'check_image_file', 'check_outputs', 'compress_images', 'find_images',
    'format_analyze_summary', 'format_compress_summary', 'inject_backbone_features',
    'load_deploy_model', 'render_bit_map'
]
