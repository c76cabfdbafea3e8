"""DICM for other frameworks than OpenMMLab. Never imported by ``import mmdicm``: import a
framework's subpackage yourself (``import mmdicm.integrations.detectron2`` registers DICM's
backbones in detectron2's ``BACKBONE_REGISTRY``)."""
__all__: list = []
