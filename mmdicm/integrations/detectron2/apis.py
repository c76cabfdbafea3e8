"""What ``tools/detectron2/train_net.py`` runs: detectron2's ``train_net.py`` with DICM's
config keys, trainer and checkpointer (and the embedded data registered when named)."""
from typing import Any, Sequence

from detectron2.config import get_cfg
from detectron2.engine import default_setup

from .checkpoint import DICMCheckpointer
from .config import add_dicm_config
from .data import register_embedded
from .trainer import DICMTrainer

__all__ = ['setup_cfg', 'train_net']

#: dataset names of :func:`register_embedded` the configs may use
EMBEDDED_PREFIX = 'mmdicm_embedded'


def setup_cfg(config_file: str, opts: Sequence[str] = (), embedded_root: str = 'data/embedded',
              args: Any = None):
    """The frozen config: detectron2 defaults + ``MODEL.DICM`` + ``config_file`` + ``opts``;
    registers the embedded data when a dataset is named ``mmdicm_embedded_*``; with ``args``
    (detectron2's parsed arguments) runs detectron2's ``default_setup`` (output dir, logger,
    seed)."""
    cfg = get_cfg()
    add_dicm_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    if any(n.startswith(EMBEDDED_PREFIX) for n in cfg.DATASETS.TRAIN + cfg.DATASETS.TEST):
        register_embedded(embedded_root, prefix=EMBEDDED_PREFIX)
    if args is not None:
        default_setup(cfg, args)
    return cfg


def train_net(args: Any) -> Any:
    """detectron2's ``train_net.main`` with :class:`DICMTrainer` (``args`` from detectron2's
    ``default_argument_parser`` plus ``embedded_root``)."""
    cfg = setup_cfg(args.config_file, args.opts, args.embedded_root, args)
    if args.eval_only:
        model = DICMTrainer.build_model(cfg)
        DICMCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS,
                                                                        resume=args.resume)
        return DICMTrainer.test(cfg, model)
    trainer = DICMTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
