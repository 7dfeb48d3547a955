#!/usr/bin/env bash
# Check the edgedistill runtime on aarch64, on this x86-64 machine, under qemu user emulation:
# the same bundles, the same real sentences, run natively on x86 and in an arm64 Debian chroot,
# must give the same predictions within a stated tolerance. Writes
# benchmarks/results/arm-qemu-check.md (agreement per bundle and emulated CPU, tolerance, versions)
# and exits 1 when the predictions disagree. It reports agreement ONLY: timings under emulation
# mean nothing about ARM speed, so none are taken.
#
#   sudo benchmarks/arm/check_arm.sh                       # tiny FP32 + INT8 bundles (minutes)
#   sudo benchmarks/arm/check_arm.sh --with-e5-small       # ... plus a real 12-layer model (slow)
#   sudo benchmarks/arm/check_arm.sh path/to/bundle ...    # ... plus bundles of your own
#   benchmarks/arm/check_arm.sh --help
#
# Needs: root (debootstrap, chroot, mount, unshare), an x86-64 Debian/Ubuntu host with apt-get (it
# installs qemu-user-static and debootstrap if missing), the project's [dev] venv (.venv: torch and
# onnx build the tiny bundles), the Debian mirror and PyPI on the first run. The arm64 rootfs and
# the arm64 wheels are cached under ~/.cache/edgedistill (EDGEDISTILL_ARM_CACHE), never in the repo,
# so later runs need no network (--offline enforces that).
#
# What we learned getting this to work here (Debian 12 host, qemu 7.2, onnxruntime 1.31.1):
# * binfmt_misc was not even mounted on this machine. Rather than register a host-wide binfmt
#   handler, the script runs every arm64 program explicitly through a copy of qemu-aarch64-static
#   placed inside the rootfs: `chroot ROOTFS /usr/bin/qemu-aarch64-static -cpu C /usr/bin/python3`.
#   The catch: an emulated process cannot exec another arm64 program, so nothing here may spawn
#   subprocesses (the runtime does not; `edgedistill bench` does, so it is not run under emulation).
# * Without binfmt, debootstrap's second stage cannot run; `debootstrap --foreign` downloads the
#   packages and unpacks only the "required" set. We unpack the rest (python3 and its libraries)
#   ourselves with dpkg-deb + tar --keep-directory-symlink (merged /usr). Nothing is configured;
#   Python does not need it.
# * `debootstrap --foreign` leaves ROOTFS/proc as a symlink to /proc. Inside the chroot that is a
#   loop ("Too many levels of symbolic links" on every /proc path), and mounting proc "at"
#   ROOTFS/proc silently mounts over the host's /proc instead. Replace it with a directory.
# * qemu 7.2 passes the host's /proc/cpuinfo (AMD/Intel text) through to the arm64 process, and
#   onnxruntime 1.31.1 then dies with SIGSEGV while initialising its cpuinfo library. Bind-mounting
#   a file that describes an ARM CPU (Features, CPU implementer/part) over ROOTFS/proc/cpuinfo, in a
#   private mount namespace, fixes it. Without /sys the cpuinfo library only warns ("failed to parse
#   the list of possible processors") and onnxruntime still runs; we bind /sys anyway so that it
#   initialises as on a real board.
# * qemu's default CPU for aarch64 user mode is "max", which advertises SVE, SVE2, i8mm and SME.
#   Under it, onnxruntime's INT8 results moved 9e-3 to 7e-2 (absolute, on probabilities) away from
#   x86: 10 to 100 times further from FP32 than the quantization error itself, while FP32 agreed to
#   1e-7. `-cpu max,sme=off` agrees again, so the SME path is what miscomputes under this qemu
#   (emulation or kernel, we cannot tell; no Raspberry Pi has SME). Name a real core with -cpu:
#   neoverse-n1 (Cortex-A76 class with dot product, like a Pi 5), cortex-a72 (Pi 4: no dot product,
#   so a different INT8 kernel), cortex-a53 (Pi 3 / Zero 2 W; MLAS picks some kernels by core type).
#   `--cpu max` is accepted, to reproduce the INT8 disagreement.
# * The emulated Cortex-A72 reproduces the Pi 4 crash: onnxruntime 1.21.0 (installed by hand with
#   --no-deps, since edgedistill requires >=1.22 and pip refuses it) dies with SIGILL on import
#   under `-cpu cortex-a72` and runs under `-cpu neoverse-n1`; 1.22.0 and 1.31.1 pass the check
#   under cortex-a72 and cortex-a53 (`--onnxruntime 1.22.0` checks the minimum). qemu faults on
#   instructions the named core lacks, so this check does catch builds a Pi 4 cannot run.
# * On a real model the INT8 outputs of arm64 and x86 are not the same: multilingual-e5-small
#   quantized with `--preset arm64` gave embeddings up to 0.03 apart per component (cosine >= 0.985)
#   between x86 and arm64, identically under cortex-a72 and neoverse-n1, while FP32 agreed to 1e-7
#   and both INT8 outputs sat equally far from FP32 (0.0285 vs 0.0286). The arm64 kernels round
#   differently, not worse; a fixed tolerance loose enough for that would miss the SME failure on
#   the tiny bundles, so compare.py accepts such an INT8 bundle as "INT8-equivalent" only when its
#   FP32 original is checked alongside it and the arm64 INT8 is as faithful to FP32 as x86's.
# * pip installs arm64 wheels on the host with --platform manylinux_2_28_aarch64 (and the older
#   manylinux tags that tokenizers and psutil use), --python-version of the rootfs's python3 and
#   --only-binary=:all:, straight into a --target folder inside the rootfs; no pip runs under
#   emulation. The edgedistill wheel is built from the working tree (a copy of it), so the check
#   runs the runtime as it is now, installed exactly as `pip install edgedistill` would.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CACHE="${EDGEDISTILL_ARM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgedistill}"
SUITE="${ARM_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$CACHE/arm-rootfs/$SUITE-arm64"
STAMP="$ROOTFS/.edgedistill-rootfs-complete"
SITE_IN_ROOTFS=/opt/edgedistill/site
WORK_IN_ROOTFS=/mnt/edgedistill

# Anything that fails without its own message still says where, rather than exiting silently.
trap 'echo "check_arm.sh: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

die() {
    printf 'check_arm.sh: %s\n' "$*" >&2
    exit 2
}
say() { printf '==> %s\n' "$*" >&2; }

usage() {
    cat <<'EOF'
Usage: sudo benchmarks/arm/check_arm.sh [options] [BUNDLE_DIR ...]

Runs the edgedistill runtime on aarch64 under qemu user emulation and checks that its predictions
match the same bundles run natively on x86. Tiny FP32 and INT8 bundles are built every time; any
BUNDLE_DIR given is checked as well. Exit status: 0 agree; 1 predictions disagree; 2 a
prerequisite is missing or a step failed; 3 predictions agree but `edgedistill env` or
`edgedistill predict` failed on arm64.

Options:
  --cpu NAME             qemu CPU model to emulate; repeat for several
                         (default: neoverse-n1, cortex-a72 and cortex-a53)
  --report PATH          where to write the markdown report
                         (default: benchmarks/results/arm-qemu-check.md)
  --work DIR             keep intermediate files (bundles, predictions, logs) in DIR
  --onnxruntime VERSION  onnxruntime to install in the rootfs (default: the pin in constraints.txt)
  --git-ref REF          install edgedistill from this commit (e.g. HEAD) rather than from the
                         working tree, to leave out others' uncommitted changes
  --with-e5-small        also check a real model: the built-in teacher exported with
                         `edgedistill export e5-small` and `edgedistill quantize --preset arm64`
                         (needs the [export] install; slow: 10-15 min per CPU on a busy 2-core host)
  --fp32-tolerance X     absolute tolerance for FP32 bundles (default: compare.py's)
  --int8-tolerance X     absolute tolerance for INT8 bundles (default: compare.py's)
  --offline              use only the cached rootfs and wheels; never touch the network
  -h, --help             this help

Environment: EDGEDISTILL_ARM_CACHE (cache folder, default ~/.cache/edgedistill), ARM_SUITE (Debian
suite, default bookworm), DEBIAN_MIRROR (default http://deb.debian.org/debian), PYTHON (host python
with the [dev] install, default .venv/bin/python), EDGEDISTILL_DATA (the shared data folder).
EOF
}

# --------------------------------------------------------------------------- fake /proc/cpuinfo

# implementer variant part revision features, as a real board of that core reports them (Features
# as qemu advertises them for that -cpu, so the file and the HWCAPs the process gets agree).
cpu_identity() {
    case "$1" in
        neoverse-n1 | max*) echo "0x41 0x3 0xd0c 1 fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs" ;;
        cortex-a76) echo "0x41 0x4 0xd0b 1 fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
        cortex-a72) echo "0x41 0x0 0xd08 3 fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" ;;
        cortex-a53) echo "0x41 0x0 0xd03 4 fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" ;;
        *) return 1 ;;
    esac
}

write_cpuinfo() { # CPU FILE
    local implementer variant part revision features count i
    read -r implementer variant part revision features <<<"$(cpu_identity "$1")"
    count="$(getconf _NPROCESSORS_CONF)"
    : >"$2"
    for ((i = 0; i < count; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: %s\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
            "$i" "$features" "$implementer" "$variant" "$part" "$revision" >>"$2"
    done
    printf 'Model\t\t: fake /proc/cpuinfo for qemu-aarch64 -cpu %s\n' "$1" >>"$2"
}

# --------------------------------------------------------------------------- inside the namespace

# Re-invoked through `unshare --mount`: every mount below vanishes with this process, so nothing
# leaks onto the host even when a step fails.
if [[ "${1:-}" == "--in-namespace" ]]; then
    cpu="$2" cpuinfo="$3" work="$4" name="$5"
    shift 5
    mount -t proc proc "$ROOTFS/proc"
    mount --rbind /sys "$ROOTFS/sys"
    mount --bind /dev "$ROOTFS/dev"
    mount --bind "$cpuinfo" "$ROOTFS/proc/cpuinfo"
    mount --bind "$work" "$ROOTFS$WORK_IN_ROOTFS"
    chroot="$(command -v chroot)" # env -i clears PATH, and chroot lives in /usr/sbin
    arm() {
        env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 PYTHONPATH="$SITE_IN_ROOTFS" \
            PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false \
            "$chroot" "$ROOTFS" /usr/bin/qemu-aarch64-static -cpu "$cpu" /usr/bin/python3 -s "$@"
    }
    # The two commands the README gives Pi users, as a smoke test of the installed CLI. A failure
    # is reported and fails the check (exit 3), but does not stop the prediction comparison.
    edgedistill_cli=(-c "import sys; from edgedistill.cli import main; sys.exit(main())")
    arm "${edgedistill_cli[@]}" env >"$work/env-$name.txt" 2>"$work/env-$name.err" || true
    arm "${edgedistill_cli[@]}" predict "$WORK_IN_ROOTFS/bundles/seqcls-int8" "Ẹ kú àárọ̀ 😊" \
        >"$work/cli-$name.jsonl" 2>"$work/cli-$name.err" || true
    arm "$WORK_IN_ROOTFS/compare.py" predict --texts "$WORK_IN_ROOTFS/texts.json" \
        --out "$WORK_IN_ROOTFS/arm-$name.json" "$@"
    exit 0
fi

# --------------------------------------------------------------------------- arguments

cpus=()
report="$ROOT/benchmarks/results/arm-qemu-check.md"
work=""
ort_version=""
git_ref=""
with_e5=0
offline=0
tolerance_args=()
extra_bundles=()
original_args=("$@")
while (($#)); do
    case "$1" in
        --cpu) cpus+=("${2:?--cpu needs a CPU name}"); shift 2 ;;
        --report) report="${2:?--report needs a path}"; shift 2 ;;
        --work) work="${2:?--work needs a folder}"; shift 2 ;;
        --onnxruntime) ort_version="${2:?--onnxruntime needs a version}"; shift 2 ;;
        --git-ref) git_ref="${2:?--git-ref needs a commit}"; shift 2 ;;
        --fp32-tolerance | --int8-tolerance) tolerance_args+=("$1" "${2:?$1 needs a number}"); shift 2 ;;
        --offline) offline=1; shift ;;
        --with-e5-small) with_e5=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; extra_bundles+=("$@"); break ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) extra_bundles+=("$1"); shift ;;
    esac
done
((${#cpus[@]})) || cpus=(neoverse-n1 cortex-a72 cortex-a53)
report="$(realpath -m "$report")"
if [[ -z "$ort_version" ]]; then
    ort_version="$(sed -n 's/^onnxruntime==//p' "$ROOT/constraints.txt")"
    [[ -n "$ort_version" ]] || die "constraints.txt pins no onnxruntime; pass --onnxruntime VERSION"
fi
command_line="benchmarks/arm/check_arm.sh"
for arg in "${original_args[@]}"; do command_line+=" $(printf '%q' "$arg")"; done
[[ "$(id -u)" -eq 0 ]] && [[ -n "${SUDO_USER:-}" ]] && command_line="sudo $command_line"

# --------------------------------------------------------------------------- prerequisites

[[ "$(uname -s)" == Linux ]] || die "this check needs Linux (qemu user emulation, chroot, mount namespaces)"
case "$(uname -m)" in
    x86_64) ;;
    aarch64 | arm64) die "this machine is already aarch64: run the runtime natively (see the README's Raspberry Pi section)" ;;
    *) die "this check is written for an x86-64 host, not $(uname -m)" ;;
esac
[[ "$(id -u)" -eq 0 ]] || die "needs root: debootstrap, chroot, mount and unshare all do. Run: sudo $0 ${original_args[*]}"
for tool in unshare mount chroot tar getconf; do
    command -v "$tool" >/dev/null || die "$tool is missing (util-linux/coreutils/tar)"
done
[[ -x "$PYTHON" ]] || die "no project python at $PYTHON: run 'make venv' first (or set PYTHON)"
"$PYTHON" -c "import torch, onnx, onnxruntime.quantization, edgedistill.runtime" 2>/dev/null ||
    die "$PYTHON lacks the [dev] install (torch, onnx) needed to build the tiny bundles: run 'make venv'"
for cpu in "${cpus[@]}"; do
    cpu_identity "$cpu" >/dev/null || die "no fake /proc/cpuinfo for CPU '$cpu'; known: neoverse-n1, cortex-a76, cortex-a72, cortex-a53, max"
done
for bundle in "${extra_bundles[@]}"; do
    [[ -f "$bundle/edgedistill.json" ]] || die "$bundle is not a bundle directory (no edgedistill.json)"
done

check_mirror() {
    "$PYTHON" - "$MIRROR/dists/$SUITE/Release" <<'EOF' ||
import sys
import urllib.request

try:
    urllib.request.urlopen(sys.argv[1], timeout=20).read(64)
except Exception as exc:  # any failure means the mirror is not usable from here
    sys.exit(f"{sys.argv[1]}: {exc}")
EOF
        die "cannot reach the Debian mirror $MIRROR (needed to $1); set DEBIAN_MIRROR or restore the network"
}

install_host_packages() {
    local missing=()
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
    if [[ ! -f "$STAMP" ]]; then
        command -v debootstrap >/dev/null || missing+=(debootstrap)
        command -v dpkg-deb >/dev/null || missing+=(dpkg)
    fi
    ((${#missing[@]})) || return 0
    ((offline == 0)) || die "--offline, but ${missing[*]} is not installed"
    command -v apt-get >/dev/null ||
        die "${missing[*]} missing and there is no apt-get: install Debian's qemu-user-static and debootstrap (or your distribution's equivalents) by hand"
    check_mirror "install ${missing[*]}"
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$work/apt.log" 2>&1 || die "apt-get update failed (see $work/apt.log)"
    apt-get install -y -q "${missing[@]}" >>"$work/apt.log" 2>&1 ||
        die "apt-get install ${missing[*]} failed (see $work/apt.log)"
}

# --------------------------------------------------------------------------- work folder

if [[ -z "$work" ]]; then
    work="$(mktemp -d -t edgedistill-arm.XXXXXX)"
    # Removed after a clean pass; kept when anything failed, for the logs the messages point to.
    trap 'rc=$?; if ((rc == 0)); then rm -rf "$work"; else echo "check_arm.sh: kept $work for inspection" >&2; fi' EXIT
else
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"
    rm -rf "$work/bundles" "$work/src" "$work/dist" "$work"/arm-*.json "$work"/env-*.txt
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/arm-check.lock"
command -v flock >/dev/null && { flock -n 9 || die "another check_arm.sh is running (lock $CACHE/arm-check.lock)"; }

install_host_packages
# `-cpu help` exits 1 after listing; and not piped into grep -q: with pipefail, SIGPIPE fails it
known_cpus="$(qemu-aarch64-static -cpu help || true)"
for cpu in "${cpus[@]}"; do
    grep -qx "  ${cpu%%,*}" <<<"$known_cpus" ||
        die "qemu-aarch64-static ($(qemu-aarch64-static --version | head -1)) does not know the CPU '${cpu%%,*}'"
done

# --------------------------------------------------------------------------- the arm64 rootfs

if [[ ! -f "$STAMP" ]]; then
    ((offline == 0)) || die "--offline, but no cached arm64 rootfs at $ROOTFS (run once without --offline)"
    check_mirror "debootstrap an arm64 rootfs"
    building="$ROOTFS.partial"
    rm -rf "$building"
    mkdir -p "$(dirname "$ROOTFS")"
    say "debootstrap: Debian $SUITE arm64 (minbase + python3) into $ROOTFS (first run only)"
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 "$SUITE" "$building" \
        "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
        die "debootstrap failed (last lines below; full log $work/debootstrap.log): $(tail -3 "$work/debootstrap.log")"
    # Unpack what the (impossible without binfmt) second stage would have installed.
    while read -r package; do
        deb="$(awk -v p="$package" '$1 == p { print $2 }' "$building/debootstrap/debpaths")"
        [[ -n "$deb" ]] || die "debootstrap downloaded no .deb for $package"
        dpkg-deb --fsys-tarfile "$building$deb" | tar -x --keep-directory-symlink -C "$building"
    done < <(tr ' ' '\n' <"$building/debootstrap/base" | sed '/^$/d')
    [[ -L "$building/proc" ]] && rm "$building/proc"
    mkdir -p "$building/proc" "$building/sys" "$building/dev" "$building$WORK_IN_ROOTFS"
    rm -f "$building"/var/cache/apt/archives/*.deb
    [[ -x "$building/usr/bin/python3" ]] || die "the rootfs has no /usr/bin/python3 after unpacking"
    printf 'Debian %s arm64, debootstrap --foreign --variant=minbase --include=python3, from %s\n' \
        "$SUITE" "$MIRROR" >"$building/.edgedistill-rootfs-complete"
    rm -rf "$ROOTFS"
    mv "$building" "$ROOTFS"
fi
install -m 0755 "$(command -v qemu-aarch64-static)" "$ROOTFS/usr/bin/qemu-aarch64-static"
rootfs_python="$(readlink "$ROOTFS/usr/bin/python3")" # e.g. python3.11
py_version="${rootfs_python#python}"
[[ "$py_version" =~ ^3\.[0-9]+$ ]] || die "cannot tell the rootfs's Python version from /usr/bin/python3 -> $rootfs_python"
say "rootfs: $(cat "$STAMP"); Python $py_version"

# --------------------------------------------------------------------------- arm64 wheels

mkdir -p "$work/src" "$work/dist"
sources=(pyproject.toml README.md edgedistill runtime export benchmarks)
if [[ -n "$git_ref" ]]; then
    say "building the edgedistill wheel from commit $git_ref"
    git -C "$ROOT" archive --format=tar "$git_ref" "${sources[@]}" | tar -C "$work/src" -xf - ||
        die "cannot export ${sources[*]} from git ref $git_ref"
else
    say "building the edgedistill wheel from the working tree"
    tar -C "$ROOT" --exclude=__pycache__ -cf - "${sources[@]}" | tar -C "$work/src" -xf -
fi
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" "$work/src" \
    >"$work/pip.log" 2>&1 || die "building the edgedistill wheel failed (see $work/pip.log)"
wheel=("$work"/dist/edgedistill-*.whl)
[[ -f "${wheel[0]}" ]] || die "pip wheel wrote no edgedistill wheel (see $work/pip.log)"

abi="cp${py_version/./}"
wheels="$CACHE/arm-wheels/$abi-onnxruntime-$ort_version"
grep -v '^onnxruntime==' "$ROOT/constraints.txt" >"$work/constraints.txt"
platform_args=(--only-binary=:all: --python-version "$py_version" --implementation cp
    --abi "$abi" --abi abi3 --abi none
    --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64
    --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64)
requirements=("${wheel[0]}" "onnxruntime==$ort_version")
site="$ROOTFS$SITE_IN_ROOTFS"
install_wheels() {
    rm -rf "$site"
    "$PYTHON" -m pip install --quiet --no-warn-conflicts --no-index --find-links "$wheels" \
        "${platform_args[@]}" -c "$work/constraints.txt" --target "$site" "${requirements[@]}" \
        >>"$work/pip.log" 2>&1
}
if ! install_wheels; then
    ((offline == 0)) || die "--offline, but the cached arm64 wheels in $wheels are missing or incomplete"
    say "downloading arm64 wheels (onnxruntime $ort_version, tokenizers, numpy, ...) from PyPI into $wheels"
    mkdir -p "$wheels"
    log="$work/pip-download.log"
    "$PYTHON" -m pip download --quiet "${platform_args[@]}" -c "$work/constraints.txt" -d "$wheels" \
        "${requirements[@]}" >"$log" 2>&1 ||
        die "could not download arm64 wheels from PyPI: $(grep '^ERROR' "$log" | tail -1 || tail -1 "$log") (full log: $log)"
    rm -f "$wheels"/edgedistill-*.whl
    install_wheels || die "installing the arm64 wheels into the rootfs failed (see $work/pip.log)"
fi
installed=("$site"/onnxruntime-*.dist-info "$site"/tokenizers-*.dist-info "$site"/numpy-*.dist-info)
installed=("${installed[@]##*/}")
say "installed into the rootfs: ${installed[*]%.dist-info}"

# --------------------------------------------------------------------------- bundles, texts, x86

say "building tiny FP32 and INT8 bundles and picking real sentences"
cp "$HERE/compare.py" "$work/compare.py" # the copy the chroot runs; the host runs the original
"$PYTHON" "$HERE/compare.py" texts --out "$work/texts.json" >&2 || exit 2
"$PYTHON" "$HERE/compare.py" build --out "$work/bundles" >"$work/build.log" 2>&1 ||
    die "building the tiny bundles failed (see $work/build.log)"
if ((with_e5)); then
    # A real 12-layer model, FP32 and INT8, built by the project's own export and quantize. The
    # accuracy gate is switched off (--max-drop 100): this bundle is here to compare architectures,
    # not to be shipped, and its INT8 is judged against its FP32 by compare.py.
    say "exporting multilingual-e5-small (4-bit weights dequantized) to FP32 and INT8 (--preset arm64) bundles"
    cli="$(dirname "$PYTHON")/edgedistill"
    "$cli" export e5-small --out "$work/bundles/e5-small-fp32" >"$work/e5.log" 2>&1 ||
        die "edgedistill export e5-small failed: $(tail -1 "$work/e5.log") (full log: $work/e5.log)"
    "$cli" quantize "$work/bundles/e5-small-fp32" --out "$work/bundles/e5-small-int8" --preset arm64 \
        --no-escalate --max-drop 100 --data afrisenti --language hau --dev-limit 64 >>"$work/e5.log" 2>&1 ||
        die "edgedistill quantize failed: $(tail -1 "$work/e5.log") (full log: $work/e5.log)"
fi
bundle_names=()
for dir in "$work"/bundles/*/; do bundle_names+=("$(basename "$dir")"); done
for bundle in "${extra_bundles[@]}"; do
    name="$(basename "$(cd "$bundle" && pwd)")"
    [[ ! -e "$work/bundles/$name" ]] || die "two bundles are named $name; rename one"
    cp -rL "$bundle" "$work/bundles/$name"
    bundle_names+=("$name")
done
say "x86 reference run: ${bundle_names[*]}"
x86_bundles=()
for name in "${bundle_names[@]}"; do x86_bundles+=("$work/bundles/$name"); done
"$PYTHON" "$HERE/compare.py" predict --texts "$work/texts.json" --out "$work/x86.json" "${x86_bundles[@]}" >&2 ||
    die "the x86 reference run failed"

# --------------------------------------------------------------------------- arm64 runs

qemu_version="$(qemu-aarch64-static --version | head -1)"
arm_bundles=()
for name in "${bundle_names[@]}"; do arm_bundles+=("$WORK_IN_ROOTFS/bundles/$name"); done
run_args=()
emulation="$work/emulation.json"
echo '{}' >"$emulation"
for cpu in "${cpus[@]}"; do
    name="${cpu//[^a-zA-Z0-9-]/_}"
    write_cpuinfo "$cpu" "$work/cpuinfo-$name"
    say "arm64 run under qemu -cpu $cpu (timings meaningless, none taken)"
    arm_status=0
    unshare --mount --propagation private -- bash "$HERE/check_arm.sh" --in-namespace "$cpu" \
        "$work/cpuinfo-$name" "$work" "$name" "${arm_bundles[@]}" 2>"$work/arm-$name.stderr" ||
        arm_status=$?
    if ((arm_status != 0)); then
        tail -5 "$work/arm-$name.stderr" >&2
        case "$arm_status" in
            132) why="illegal instruction (SIGILL): this onnxruntime uses instructions that a $cpu lacks, as onnxruntime 1.21 did on a Pi 4 (Cortex-A72)" ;;
            139) why="segmentation fault: if onnxruntime's cpuinfo could read the host's x86 /proc/cpuinfo, the fake one was not mounted" ;;
            *) why="exit status $arm_status" ;;
        esac
        die "the arm64 run under -cpu $cpu crashed: $why (stderr above; full: $work/arm-$name.stderr)"
    fi
    grep -v '^[0-9]* bundles x' "$work/arm-$name.stderr" >&2 || true
    run_args+=(--run "$cpu=$work/arm-$name.json")
    "$PYTHON" "$HERE/compare.py" record --emulation "$emulation" --cpu "$cpu" --qemu "$qemu_version" \
        --rootfs "$(cat "$STAMP")" --files "$work" --name "$name"
done

# --------------------------------------------------------------------------- compare and report

say "comparing with x86"
status=0
"$PYTHON" "$HERE/compare.py" compare --reference "$work/x86.json" "${run_args[@]}" \
    --texts "$work/texts.json" --emulation "$emulation" --command-line "$command_line" \
    --report "$report" "${tolerance_args[@]}" || status=$?
case "$status" in
    0) say "PASS: aarch64 (emulated) and x86 agree; report: $report" ;;
    1) say "FAIL: aarch64 (emulated) and x86 DISAGREE; report: $report" ;;
    3) say "FAIL: the predictions agree, but the edgedistill CLI failed on aarch64; report: $report" ;;
    *) die "the comparison itself failed (exit $status)" ;;
esac
exit "$status"
