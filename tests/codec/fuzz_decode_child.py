"""Decode fuzz cases in a child process (run by test_decode_fuzz.py, not collected by pytest).

Usage: ``python fuzz_decode_child.py CASES.pkl WIDTHS`` where CASES.pkl holds a list of
container bytes and WIDTHS is a key of ``fuzz_decode_cases.WIDTHS``. Prints one JSON line per case,
``{"i", "ok", "out", "rss_mb"}``, after a ``{"start": i}`` line, so a crash or a hang points
at its case. ``out`` is the SHA-256 of the decoded features or the BitstreamError message.
"""
import hashlib
import json
import pickle
import resource
import sys

import torch

from mmdicm.codec import BitstreamError

from fuzz_decode_cases import build_codec  # the script's folder is on sys.path


def main() -> None:
    torch.set_num_threads(1)
    with open(sys.argv[1], 'rb') as f:
        cases = pickle.load(f)
    codec = build_codec(sys.argv[2])
    for i, data in enumerate(cases):
        print(json.dumps({'start': i}), flush=True)
        try:
            f3, _ = codec.decode(data)
            ok, out = True, hashlib.sha256(f3.numpy().tobytes()).hexdigest()
        except BitstreamError as e:
            ok, out = False, str(e)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({'i': i, 'ok': ok, 'out': out, 'rss_mb': round(rss)}), flush=True)


if __name__ == '__main__':
    main()
