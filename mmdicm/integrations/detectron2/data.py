"""mmdicm's embedded dataset (``tools/make_embedded_data.py``, COCO format) as detectron2
datasets, registered with detectron2's own ``register_coco_instances``."""
import os.path as osp
from typing import List

from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_coco_instances

__all__ = ['register_embedded']


def register_embedded(data_root: str = 'data/embedded', prefix: str = 'mmdicm_embedded'
                      ) -> List[str]:
    """Register ``<prefix>_train`` and ``<prefix>_val`` (instances with polygon masks) from
    ``data_root/annotations/instances_{train,val}.json`` and ``data_root/{train,val}/``;
    names already registered are left as they are. Returns the two names."""
    names = []
    for split in ('train', 'val'):
        ann = osp.join(data_root, 'annotations', f'instances_{split}.json')
        if not osp.isfile(ann):
            raise FileNotFoundError(f'{ann} not found: make the embedded dataset with '
                                    f'`python tools/make_embedded_data.py --out {data_root}`')
        name = f'{prefix}_{split}'
        if name not in DatasetCatalog.list():
            register_coco_instances(name, {}, ann, osp.join(data_root, split))
        names.append(name)
    return names
