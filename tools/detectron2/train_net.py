"""detectron2's ``tools/train_net.py`` for DICM models: ``python tools/detectron2/train_net.py
--config-file configs/detectron2/<config>.yaml [--eval-only] [--num-gpus N] [KEY VALUE ...]``.

The same arguments as detectron2's (``--resume``, ``--num-machines``, ``--dist-url``, trailing
config overrides), plus ``--embedded-root`` (mmdicm's embedded data, for the CPU config). It
adds ``MODEL.DICM`` to the config and trains with
:class:`mmdicm.integrations.detectron2.DICMTrainer` (rate loss, entropy tables, optimizer
groups); see docs/detectron2.md.
"""


def main(argv=None):
    from detectron2.engine import default_argument_parser, launch

    from mmdicm.integrations.detectron2.apis import train_net
    parser = default_argument_parser(epilog=__doc__.splitlines()[0])
    parser.add_argument('--embedded-root', default='data/embedded',
                        help='embedded dataset (tools/make_embedded_data.py) for configs that '
                        'name mmdicm_embedded_train/_val (default: %(default)s)')
    args = parser.parse_args(argv)
    print('Command Line Args:', args)
    return launch(train_net, args.num_gpus, num_machines=args.num_machines,
                  machine_rank=args.machine_rank, dist_url=args.dist_url, args=(args, ))


if __name__ == '__main__':
    main()
