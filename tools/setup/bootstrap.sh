#!/usr/bin/env bash
# Idempotent environment setup for mmdicm; `make test` and `make demo` both call it.
#
# What it does, in order (each step is skipped when already done):
#   1. creates a project virtualenv ($MMDICM_VENV, default ./.venv);
#   2. installs torch + torchvision (requirements/torch.txt);
#   3. builds mmcv WITH its compiled ops for this (python, torch) pair, once, and keeps the wheel
#      in a per-user cache ($MMDICM_CACHE_DIR, default ~/.cache/mmdicm/wheels/<python>-<torch>),
#      so a fresh clone on the same machine installs it in seconds;
#   4. installs the pinned OpenMMLab/CompressAI stack and mmdicm itself (editable) in one pip call;
#   5. installs detectron2 (tools/setup/detectron2.sh: PyPI's detectron2-cdo sdist + a committed
#      patch, pure Python) for mmdicm's detectron2 integration and its tests;
#   6. checks that `import mmdicm`, mmcv's compiled ops and detectron2 work, then writes a stamp
#      file so the next run returns in seconds.
# It changes nothing outside the venv and the wheel cache. Set MMDICM_VERBOSE=1 for pip's output.
set -euo pipefail
case "${1:-}" in
    -h|--help)
        printf 'usage: bash tools/setup/bootstrap.sh [--help]\n\n'
        sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        printf '\nenvironment: MMDICM_VENV (./.venv), PYTHON (python3), MMDICM_CACHE_DIR\n'
        printf '             (~/.cache/mmdicm), MMDICM_VERBOSE=1 (show pip output)\n'
        exit 0 ;;
    '') ;;
    *)
        echo 'usage: bash tools/setup/bootstrap.sh [--help]' >&2
        echo "error: unexpected argument '$1' (it takes none; see --help for its variables)" >&2
        exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MMDICM_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE_DIR="${MMDICM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdicm}"
STAMP="$VENV/.mmdicm-setup"
VPY="$VENV/bin/python"

say() { printf '[mmdicm setup] %s\n' "$*"; }
die() { printf '[mmdicm setup] ERROR: %s\n' "$*" >&2; exit 1; }
pip_quiet=(-q)
[ "${MMDICM_VERBOSE:-0}" = 1 ] && pip_quiet=()
# pip, minus the "Location 'file://...' is ignored" warnings that a machine-wide pip.conf with
# local extra indexes prints for every package it does not hold.
vpip() {
    "$VPY" -m pip "${pip_quiet[@]}" --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "^WARNING: Location 'file://.*' is ignored" || true; }
    return "${PIPESTATUS[0]}"
}

cd "$ROOT"

# Everything that decides what gets installed; a change to any of it invalidates the stamp.
# mmdicm's own C extension (the bounds-checked rANS decoder) is rebuilt when its source changes;
# mmdicm/mim_hook.py: setup.py copies it into site-packages, even for an editable install.
# detectron2: its install script and the patch it applies.
fingerprint="$(cat requirements/*.txt setup.py tools/setup/bootstrap.sh tools/setup/cxx20 \
    mmdicm/codec/_rans.c mmdicm/mim_hook.py tools/setup/detectron2.sh \
    tools/setup/detectron2-cdo-*.patch | sha256sum | cut -c1-16)"
SMOKE='import mmdicm; from mmcv.ops import nms, RoIAlign; from mmdicm.codec import _rans; import detectron2'

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] && "$VPY" -c "$SMOKE" 2>/dev/null; then
    say "environment is up to date ($VENV)"
    exit 0
fi

# --- 1. virtualenv -----------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "no '$PYTHON' found: install Python 3.9-3.11 or set PYTHON=/path/to/python"
"$PYTHON" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 11)))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); mmcv 2.1.0 and the pinned stack need Python 3.9-3.11"
if [ ! -x "$VPY" ]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)"
fi

# --- 2. torch ----------------------------------------------------------------------------------
say "installing torch/torchvision (requirements/torch.txt)"
vpip install -r requirements/torch.txt
# Build tools for mmcv; setuptools<81 because mmcv's setup.py imports pkg_resources.
vpip install 'setuptools<81' wheel ninja

# --- 3. mmcv with compiled ops, built once per (python, torch) --------------------------------
mmcv_pin="$(grep -E '^mmcv==' requirements/mmcv.txt | head -n1)"
[ -n "$mmcv_pin" ] || die "requirements/mmcv.txt has no 'mmcv==<version>' line"
mmcv_version="${mmcv_pin#mmcv==}"
key="$("$VPY" -c 'import sys, torch; print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}")')"
WHEELS="$CACHE_DIR/wheels/$key"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/mmcv-"$mmcv_version"-*.whl >/dev/null 2>&1; then
    real_cxx="${CXX:-}"
    if [ -z "$real_cxx" ]; then
        for c in c++ g++ clang++; do command -v "$c" >/dev/null && { real_cxx="$c"; break; }; done
    fi
    [ -n "$real_cxx" ] && command -v "$real_cxx" >/dev/null \
        || die "no C++ compiler found: install g++ (Debian/Ubuntu: apt-get install g++) or set CXX"
    echo 'int main(){return 0;}' > "$WHEELS/.probe.cpp"
    "$real_cxx" -std=c++20 -o "$WHEELS/.probe" "$WHEELS/.probe.cpp" 2>/dev/null \
        || die "$real_cxx cannot compile C++20 (torch's headers need it): install g++ >= 10"
    rm -f "$WHEELS/.probe" "$WHEELS/.probe.cpp"
    jobs="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    log="$CACHE_DIR/mmcv-build-$key.log"
    build="$(mktemp -d)"
    say "building mmcv $mmcv_version with CPU ops ($jobs jobs; ~9 min on 2 cores, once per machine)"
    say "  build log: $log"
    # CUDA_VISIBLE_DEVICES='': mmcv's setup.py builds CUDA ops whenever a GPU is visible, even
    # with FORCE_CUDA=0. --no-cache-dir: pip's own wheel cache keys only on the sdist, so it could
    # hand back a wheel built without ops or for another torch. CFLAGS is left alone on purpose:
    # it replaces Python's default (optimising) flags instead of adding to them.
    if ! MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$jobs" CUDA_VISIBLE_DEVICES='' \
        MMDICM_REAL_CXX="$real_cxx" CXX="$ROOT/tools/setup/cxx20" \
        "$VPY" -m pip wheel --no-deps --no-build-isolation --no-cache-dir \
        --no-binary mmcv -w "$build" "$mmcv_pin" >"$log" 2>&1; then
        echo "----- last error lines of $log -----" >&2
        grep -iE 'error|fatal' "$log" | tail -n 15 >&2 || tail -n 15 "$log" >&2
        die "building mmcv $mmcv_version failed; full log: $log"
    fi
    mv "$build"/mmcv-*.whl "$WHEELS"/ && rm -rf "$build"
    say "mmcv wheel cached in $WHEELS"
fi

# --- 4. the pinned stack + mmdicm (editable), one resolver run -------------------------------
say "installing the pinned stack and mmdicm (editable)"
vpip install --no-build-isolation --find-links "$WHEELS" --only-binary mmcv \
    -r requirements/tests.txt -r requirements/codecs.txt -r requirements/detectron2.txt -e "$ROOT"

# --- 5. detectron2 (pure Python, patched; the script checks its own install) ----------------
bash "$ROOT/tools/setup/detectron2.sh" "$VPY"

# --- 6. check --------------------------------------------------------------------------------
if ! "$VPY" -c "$SMOKE"; then
    die "the smoke test failed ($SMOKE): mmcv's compiled ops (remove $WHEELS and run again), mmdicm's rANS extension (a C compiler is needed) or detectron2 (tools/setup/detectron2.sh) do not import"
fi
echo "$fingerprint" > "$STAMP"
say "ready: $VPY ($("$VPY" -c 'import mmdicm, mmcv, torch; print(f"mmdicm {mmdicm.__version__}, mmcv {mmcv.__version__}, torch {torch.__version__}")'))"
