"""Evaluate a checkpoint: ``python tools/test.py <config> <checkpoint> [options]``."""
import argparse
import sys


def main(argv=None) -> int:
    from mmdicm.apis.launch import add_common_args, run_tool
    parser = argparse.ArgumentParser(description='Test with mmdicm (DICM feature codec)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    args = add_common_args(parser).parse_args(argv)
    return run_tool(args, lambda runner: runner.test(), checkpoint=args.checkpoint)


if __name__ == '__main__':
    sys.exit(main())
