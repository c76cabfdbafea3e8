#!/usr/bin/env bash
# Installs detectron2 into a Python environment, from PyPI only; tools/setup/bootstrap.sh runs it.
#
#   bash tools/setup/detectron2.sh [PYTHON]     (default: .venv/bin/python of this checkout)
#
# Upstream detectron2 is not on PyPI. Its redistribution `detectron2-cdo` 0.5 is, as an sdist
# without its C++ sources, written for numpy < 1.24 and Pillow < 10. This script downloads that
# sdist with pip (the exact version, checked against its sha256), applies
# tools/setup/detectron2-cdo-0.5.patch (what each hunk does and why: its header), installs
# detectron2's pure-Python dependencies (requirements/detectron2.txt) and then detectron2 itself,
# pure Python, with --no-deps --no-build-isolation (its setup.py imports the installed torch).
# It skips everything when the patched version is already installed, and ends by building a
# Mask R-CNN from the model zoo and decoding a polygon mask: a broken install fails loudly here.
set -euo pipefail
usage='usage: bash tools/setup/detectron2.sh [PYTHON] [--help]'
case "${1:-}" in
    -h|--help)
        printf '%s\n\n' "$usage"
        sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0 ;;
esac
if [ $# -gt 1 ]; then
    echo "$usage" >&2
    echo "error: unexpected argument '$2' (it takes at most one: the Python to install into)" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VPY="${1:-$ROOT/.venv/bin/python}"
D2_VERSION=0.5
D2_SHA256=53c9e79e9cc943e80419c588ea44b5479507a8628ed14a4e06bd093e29311b18
PATCH="$ROOT/tools/setup/detectron2-cdo-$D2_VERSION.patch"

say() { printf '[mmdicm setup] %s\n' "$*"; }
die() { printf '[mmdicm setup] ERROR: %s\n' "$*" >&2; exit 1; }
pip_quiet=(-q)
[ "${MMDICM_VERBOSE:-0}" = 1 ] && pip_quiet=()
vpip() {  # pip, minus the warnings of a machine-wide pip.conf's unreachable local indexes
    "$VPY" -m pip "${pip_quiet[@]}" --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "^WARNING: Location 'file://.*' is ignored" || true; }
    return "${PIPESTATUS[0]}"
}
[ -x "$VPY" ] || die "no Python at $VPY (run tools/setup/bootstrap.sh, or pass one)"
command -v patch >/dev/null || die "'patch' not found (Debian/Ubuntu: apt-get install patch)"

# What the smoke test checks: detectron2 and the model zoo import, a polygon mask decodes
# (numpy aliases), a model builds from a model-zoo YAML on the CPU.
SMOKE='
import detectron2, numpy as np
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import PolygonMasks
assert detectron2.__version__ == "'$D2_VERSION'", detectron2.__version__
cfg = get_cfg()
cfg.merge_from_file(model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"))
cfg.MODEL.DEVICE = "cpu"
build_model(cfg)
m = PolygonMasks([[np.array([0., 0., 8., 0., 8., 8.])]]).polygons
'
# A marker next to the package: which patch the installed copy was built with.
marker() { "$VPY" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec('detectron2')
print('' if spec is None else os.path.join(os.path.dirname(spec.origin), '.mmdicm-patch'))
EOF
}
patch_sum="$(sha256sum "$PATCH" | cut -c1-16)"
installed="$(marker)"
if [ -n "$installed" ] && [ -f "$installed" ] && [ "$(cat "$installed")" = "$patch_sum" ]; then
    say "detectron2-cdo $D2_VERSION (patched) is installed"
else
    say "installing detectron2's dependencies (requirements/detectron2.txt)"
    vpip install --no-build-isolation -r "$ROOT/requirements/detectron2.txt"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    say "downloading detectron2-cdo==$D2_VERSION (sdist) and applying $(basename "$PATCH")"
    vpip download --no-deps --no-binary :all: --no-build-isolation -d "$work" \
        "detectron2-cdo==$D2_VERSION"
    sdist="$work/detectron2_cdo-$D2_VERSION.tar.gz"
    [ -f "$sdist" ] || die "pip did not download $sdist"
    echo "$D2_SHA256  $sdist" | sha256sum -c --quiet - \
        || die "detectron2-cdo $D2_VERSION's sdist does not match its sha256 $D2_SHA256"
    tar xzf "$sdist" -C "$work"
    (cd "$work/detectron2_cdo-$D2_VERSION" && patch -p1 --forward --quiet < "$PATCH") \
        || die "$(basename "$PATCH") does not apply to detectron2-cdo $D2_VERSION"
    vpip install --no-deps --no-build-isolation --force-reinstall \
        "$work/detectron2_cdo-$D2_VERSION"
    installed="$(marker)"
    [ -n "$installed" ] || die "detectron2 is not importable after its install"
    echo "$patch_sum" > "$installed"
fi
if ! "$VPY" -c "$SMOKE" >/dev/null 2>&1; then
    "$VPY" -c "$SMOKE" 2>&1 | tail -n 15 >&2 || true
    die "the detectron2 smoke test failed (above): remove $(dirname "$installed") and run again"
fi
say "detectron2 $D2_VERSION ready"
