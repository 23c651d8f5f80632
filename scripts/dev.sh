#!/usr/bin/env bash
# rowatch developer / CI entry point.
#
#   scripts/dev.sh setup [debian|latest|all] [--refresh]
#                              install system packages (apt) and create/refresh the venvs
#   scripts/dev.sh test [PYTEST_ARGS...]
#                              setup all, lint + type-check (latest env), pytest in BOTH envs
#   scripts/dev.sh lint        ruff + mypy only (in the latest env)
#   scripts/dev.sh run [ARGS...]
#                              setup debian, then exec `rowatch run ARGS...` from .venv-debian
#
# Two environments, both on Debian's /usr/bin/python3 (never a pyenv/conda python):
#   .venv-debian  --system-site-packages; the runtime libraries are Debian 12's own apt packages
#                 (python3-systemd/-pyudev/-aiosmtplib/-structlog), rowatch installed --no-deps.
#                 This is what the .deb runs with.
#   .venv-latest  isolated; newest PyPI releases of everything (pip install -e '.[journal,test,lint,fast]').
#
# Knobs (environment variables):
#   ROWATCH_REFRESH=1           rebuild the venvs even if the stamp matches (same as --refresh)
#   ROWATCH_PYTEST_ARGS_LATEST  extra pytest args for the latest env   (default: none = full suite)
#   ROWATCH_PYTEST_ARGS_DEBIAN  extra pytest args for the debian env   (default: none = full suite)
#   ROWATCH_PYTEST_TIMEOUT      seconds before one pytest run is killed (default: 1800)
#   NO_COLOR                    disable colour (colour is only ever used on a TTY)
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Configuration: edit these lists, not the code below.
# ---------------------------------------------------------------------------------------------

# Needed to run the daemon from .venv-debian (`run`, `setup debian`).
APT_RUNTIME_PACKAGES=(
    python3 python3-venv                                  # Debian's interpreter + venv/ensurepip
    python3-systemd python3-pyudev python3-aiosmtplib python3-structlog  # what the .deb depends on
    python3-aiohttp                                       # webhooks and Alertmanager
    ca-certificates                                       # pip over https
)
# Needed to build the newest systemd-python from source (`setup latest`).
APT_BUILD_PACKAGES=(
    libsystemd-dev pkg-config gcc python3-dev
)
# Tools the test suite drives (`test`). THIS is the list to edit when tests need something new.
APT_TEST_PACKAGES=(
    e2fsprogs xfsprogs btrfs-progs util-linux mount       # mkfs.*, xfs_io, losetup, blockdev, mount
    squashfs-tools                                        # read-only-by-design filesystems
    fuse3 python3-pyfuse3                                 # FUSE + the binding tests/fuse_eio.py
                                                          # uses (runs under /usr/bin/python3)
    systemd                                               # standalone systemd-journald
    python3-aiosmtpd                                      # SMTP sink (system python / debian env)
    prometheus-alertmanager                               # real Alertmanager (tests start it)
    openssl                                               # test certificates for SMTP TLS
    man-db debootstrap systemd-container                  # man pages; the .deb in a fresh Debian 12
    rpm rpmlint python3-build python3-installer           # the .rpm, built with rpmbuild
    git
)

# Python tools put into .venv-debian on top of Debian's libraries. The [test] extra from
# pyproject.toml is added automatically; lint tools are not needed there (lint runs in latest).
DEBIAN_VENV_EXTRA_PIP=()
# Extras installed into .venv-latest.
LATEST_EXTRAS="journal,test,lint,fast"
# The four runtime libraries, as "import-name=distribution-name", checked in both envs.
RUNTIME_LIBS=(systemd=systemd-python pyudev=pyudev aiosmtplib=aiosmtplib structlog=structlog aiohttp=aiohttp)
# Bump to force every developer's venvs to be rebuilt when the recipe below changes.
RECIPE_VERSION=1

# pytest arguments per env; empty = the full suite. If the debian run gets too slow, narrow it
# here, e.g. PYTEST_ARGS_DEBIAN=(-m "not slow"). The ROWATCH_PYTEST_ARGS_* variables override
# these (split on whitespace).
PYTEST_ARGS_LATEST=()
# The slow packaging tests (build the .deb, install it into a debootstrapped Debian 12) test
# the package, not the library versions: once, in the latest env, is enough.
PYTEST_ARGS_DEBIAN=(-m "not slow")
[[ -z ${ROWATCH_PYTEST_ARGS_LATEST:-} ]] || read -r -a PYTEST_ARGS_LATEST <<<"$ROWATCH_PYTEST_ARGS_LATEST"
[[ -z ${ROWATCH_PYTEST_ARGS_DEBIAN:-} ]] || read -r -a PYTEST_ARGS_DEBIAN <<<"$ROWATCH_PYTEST_ARGS_DEBIAN"
PYTEST_TIMEOUT="${ROWATCH_PYTEST_TIMEOUT:-1800}"

SYS_PY=/usr/bin/python3
REFRESH=""
[[ ${ROWATCH_REFRESH:-0} == 0 ]] || REFRESH=1

# ---------------------------------------------------------------------------------------------

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

# Keep the interpreter honest: nothing from the caller's Python setup leaks into the venvs.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV
export PYTHONNOUSERSITE=1            # ~/.local must not shadow Debian's libraries
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    C_B=$'\e[1m' C_R=$'\e[31m' C_G=$'\e[32m' C_Y=$'\e[33m' C_0=$'\e[0m'
else
    C_B='' C_R='' C_G='' C_Y='' C_0=''
fi

say()  { printf '%s==>%s %s\n' "$C_B" "$C_0" "$*"; }
warn() { printf '%swarning:%s %s\n' "$C_Y" "$C_0" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$C_R" "$C_0" "$*" >&2; exit 1; }

now()  { printf '%s' "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Step bookkeeping for the summary.
STEP_NAMES=() STEP_STATUS=() STEP_TIMES=() STEP_NOTES=()
record() {  # name status seconds [note]
    STEP_NAMES+=("$1") STEP_STATUS+=("$2") STEP_TIMES+=("$3") STEP_NOTES+=("${4:-}")
}

# Run a timed step in a subshell with errexit on (so any failing command inside fails the step);
# never aborts the script itself. Sets LAST_RC. Steps cannot change this shell's variables.
run_step() {  # name cmd...
    local name="$1"; shift
    local t0 rc
    say "$name"
    t0=$(now)
    set +e; (set -e; "$@"); rc=$?; set -e
    LAST_RC=$rc
    local dt; dt=$(secs "$t0" "$(now)")
    if ((rc == 0)); then
        printf '%s    ok%s %s (%ss)\n' "$C_G" "$C_0" "$name" "$dt"
        record "$name" ok "$dt"
    else
        printf '%s    FAILED%s %s (exit %d, %ss)\n' "$C_R" "$C_0" "$name" "$rc" "$dt"
        record "$name" FAILED "$dt" "exit $rc"
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# System packages
# ---------------------------------------------------------------------------------------------

missing_packages() {  # pkgs... -> prints the ones not installed
    local p
    for p in "$@"; do
        [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" == "ii "* ]] || printf '%s\n' "$p"
    done
}

ensure_apt() {  # pkgs...
    command -v dpkg-query >/dev/null || die "this script targets Debian 12 (no dpkg-query found)"
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if ((${#missing[@]} == 0)); then
        echo "    all ${#} apt packages already installed (apt-get update skipped)"
        return 0
    fi
    if ((EUID != 0)); then
        die "missing Debian packages: ${missing[*]}
       run this once, then retry:
         sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}
       (or simply run this script with sudo)"
    fi
    echo "    installing: ${missing[*]}"
    # Never let package installation start daemons (prometheus-alertmanager would grab :9093;
    # tests start their own servers). Honour an existing policy-rc.d, else add a temporary one.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, added by rowatch scripts/dev.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local rc=0
    apt-get -q update || rc=$?
    if ((rc == 0)); then
        apt-get -q install -y --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" || rc=$?
    fi
    if ((added_policy)); then rm -f "$policy"; trap - EXIT; fi
    ((rc == 0)) || die "apt-get failed (exit $rc)"
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]} == 0)) || die "still not installed after apt-get: ${missing[*]}"
}

# ---------------------------------------------------------------------------------------------
# Virtual environments
# ---------------------------------------------------------------------------------------------

# Anything that changes what goes into a venv must be in this hash.
recipe_hash() {  # env
    {
        echo "recipe=$RECIPE_VERSION env=$1 root=$ROOT"
        "$SYS_PY" -c 'import sys; print(sys.version)'
        cat pyproject.toml
        printf '%s\n' "${DEBIAN_VENV_EXTRA_PIP[@]}" "$LATEST_EXTRAS"
    } | sha256sum | cut -d' ' -f1
}

venv_ok() {  # dir hash
    local dir="$1" hash="$2"
    [[ -x $dir/bin/python && -f $dir/.rowatch-stamp ]] || return 1
    [[ "$(cat "$dir/.rowatch-stamp")" == "$hash" ]] || return 1
    "$dir/bin/python" -c 'import importlib.metadata as m; m.version("rowatch")' 2>/dev/null
}

test_extra_requirements() {
    "$SYS_PY" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    data = tomllib.load(f)
for req in data.get("project", {}).get("optional-dependencies", {}).get("test", []):
    print(req)
EOF
}

# Print the versions/locations of the runtime libraries; with --require-system, fail unless
# every one of them comes from Debian's dist-packages.
show_libs() {  # python [--require-system]
    local py="$1" mode="${2:-}"
    "$py" - "$mode" "${RUNTIME_LIBS[@]}" <<'EOF'
import importlib, importlib.metadata as md, sys
mode, pairs = sys.argv[1], sys.argv[2:]
bad = []
print(f"    python      {sys.version.split()[0]} ({sys.executable})")
for pair in pairs:
    mod, dist = pair.split("=")
    try:
        m = importlib.import_module(mod)
    except Exception as e:  # noqa: BLE001
        print(f"    {mod:<11} NOT IMPORTABLE: {e!r}")
        bad.append(mod)
        continue
    try:
        ver = md.version(dist)
    except md.PackageNotFoundError:
        ver = getattr(m, "__version__", "?")
    where = getattr(m, "__file__", None) or str(list(getattr(m, "__path__", [])))
    print(f"    {mod:<11} {ver:<10} {where}")
    if mode == "--require-system" and not where.startswith("/usr/lib/python3/dist-packages/"):
        bad.append(mod)
try:
    print(f"    rowatch     {md.version('rowatch'):<10} {importlib.import_module('rowatch').__file__}")
except Exception as e:  # noqa: BLE001
    print(f"    rowatch     NOT IMPORTABLE: {e!r}")
    bad.append("rowatch")
if bad:
    print(f"    PROBLEM with: {', '.join(bad)}"
          + (" (must come from Debian's /usr/lib/python3/dist-packages)" if mode else ""))
    sys.exit(1)
EOF
}

# Under sudo in a checkout owned by someone else: hand back whatever root created in the places
# this script and the tools it runs write to (venvs, caches, __pycache__, egg-info, test output),
# so the owner can keep working without sudo.
GENERATED_PATHS=(.venv-debian .venv-latest .mypy_cache .ruff_cache .pytest_cache .hypothesis
                 src tests bench build)
give_back() {
    ((EUID == 0)) || return 0
    local owner; owner=$(stat -c %u:%g "$ROOT")
    [[ $owner != 0:* ]] || return 0
    local paths; mapfile -t paths < <(existing "${GENERATED_PATHS[@]}")
    ((${#paths[@]} == 0)) || find "${paths[@]}" -xdev -user 0 -exec chown -h "$owner" {} + 2>/dev/null || true
}

setup_debian() {
    local dir=.venv-debian hash; hash=$(recipe_hash debian)
    if [[ -z $REFRESH ]] && venv_ok "$dir" "$hash"; then
        echo "    $dir is up to date (stamp matches pyproject.toml; --refresh to rebuild)"
    else
        rm -rf "$dir"
        "$SYS_PY" -m venv --system-site-packages "$dir"
        local reqs; mapfile -t reqs < <(test_extra_requirements)
        reqs+=("${DEBIAN_VENV_EXTRA_PIP[@]}")
        # pip treats the system's packages as satisfying requirements, so Debian's versions win
        # (show_libs below double-checks that).
        ((${#reqs[@]} == 0)) || "$dir/bin/python" -m pip install -q "${reqs[@]}"
        "$dir/bin/python" -m pip install -q --no-deps -e .
        echo "$hash" >"$dir/.rowatch-stamp"
    fi
    echo "    runtime libraries in $dir (must be Debian's):"
    show_libs "$dir/bin/python" --require-system
}

setup_latest() {
    local dir=.venv-latest hash; hash=$(recipe_hash latest)
    if [[ -z $REFRESH ]] && venv_ok "$dir" "$hash"; then
        echo "    $dir is up to date (stamp matches pyproject.toml; --refresh to pull newer releases)"
    else
        rm -rf "$dir"
        "$SYS_PY" -m venv "$dir"
        "$dir/bin/python" -m pip install -q --upgrade pip
        "$dir/bin/python" -m pip install -q --upgrade --upgrade-strategy eager -e ".[$LATEST_EXTRAS]"
        echo "$hash" >"$dir/.rowatch-stamp"
    fi
    echo "    runtime libraries in $dir (newest from PyPI):"
    show_libs "$dir/bin/python"
    "$dir/bin/python" -m pip list --format=freeze 2>/dev/null \
        | grep -iE '^(pytest|hypothesis|ruff|mypy)==' | sed 's/^/    /' || true
}

# Runs a setup phase as a step; aborts the whole script if it fails (nothing to test then).
setup_phase() {  # name cmd...
    run_step "$@"
    if ((LAST_RC != 0)); then
        summary
        die "$1 failed; fix that first"
    fi
}

cmd_setup() {  # [debian|latest|all]
    local which="all" a
    for a in "$@"; do
        case "$a" in
            debian|latest|all) which="$a" ;;
            --refresh) REFRESH=1 ;;
            *) die "usage: $0 setup [debian|latest|all] [--refresh]" ;;
        esac
    done
    local pkgs=("${APT_RUNTIME_PACKAGES[@]}")
    [[ $which == debian ]] || pkgs+=("${APT_BUILD_PACKAGES[@]}")
    # `setup all` is what `test` uses: it also brings the test tools.
    [[ $which != all ]] || pkgs+=("${APT_TEST_PACKAGES[@]}")
    setup_phase "apt packages" ensure_apt "${pkgs[@]}"
    [[ -x $SYS_PY ]] || die "$SYS_PY not found even after apt: this script targets Debian 12"
    [[ $which == latest ]] || setup_phase "venv debian" setup_debian
    [[ $which == debian ]] || setup_phase "venv latest" setup_latest
}

# ---------------------------------------------------------------------------------------------
# Lint and tests
# ---------------------------------------------------------------------------------------------

existing() { local p; for p in "$@"; do [[ -e $p ]] && printf '%s\n' "$p"; done; return 0; }

lint_steps() {
    local v=.venv-latest/bin paths
    mapfile -t paths < <(existing src tests bench)
    run_step "ruff check (${paths[*]})" "$v/ruff" check "${paths[@]}"
    mapfile -t paths < <(existing src tests)
    run_step "ruff format --check (${paths[*]})" format_check "${paths[@]}"
    run_step "mypy (strict, config in pyproject.toml)" "$v/mypy"
}

format_check() {  # paths...
    local rc=0
    .venv-latest/bin/ruff format --check --output-format concise "$@" || rc=$?
    ((rc == 0)) || echo "    to fix: .venv-latest/bin/ruff format $*   (--diff to see the changes)"
    return $rc
}

JUNIT_DIR=""
pytest_env() {  # env args...
    local env="$1"; shift
    local xml="$JUNIT_DIR/$env.xml"
    local rc=0 fg=()
    # On a terminal keep pytest in the foreground process group so Ctrl-C reaches it; in CI let
    # timeout own a process group so a hung run and everything it started get killed.
    [[ ! -t 0 && ! -t 1 ]] || fg=(--foreground)
    timeout "${fg[@]}" --kill-after=30 "$PYTEST_TIMEOUT" \
        ".venv-$env/bin/python" -m pytest --junitxml="$xml" -o junit_suite_name="rowatch-$env" "$@" \
        || rc=$?
    case $rc in
        0) ;;
        1) echo "${C_R}pytest [$env]: some tests failed${C_0}" ;;
        2) echo "${C_R}pytest [$env]: interrupted (often: an error while collecting tests)${C_0}" ;;
        3) echo "${C_R}pytest [$env]: internal error${C_0}" ;;
        4) echo "${C_R}pytest [$env]: usage error (bad arguments or config)${C_0}" ;;
        5) echo "${C_R}pytest [$env]: NO TESTS WERE COLLECTED (exit 5) -- treated as a failure:" \
                "an empty suite proves nothing${C_0}" ;;
        124|137) echo; echo "${C_R}pytest [$env]: killed after ${PYTEST_TIMEOUT}s (ROWATCH_PYTEST_TIMEOUT)${C_0}" ;;
        *) echo "${C_R}pytest [$env]: exit $rc${C_0}" ;;
    esac
    return $rc
}

# "passed failed skipped" from a junit file (empty if none).
junit_counts() {  # file
    [[ -s $1 ]] || return 0
    "$SYS_PY" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f + e, s)
EOF
}

TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0
test_steps() {  # extra pytest args...
    JUNIT_DIR=$(mktemp -d)
    local env extra
    for env in latest debian; do
        if [[ $env == latest ]]; then extra=("${PYTEST_ARGS_LATEST[@]}"); else extra=("${PYTEST_ARGS_DEBIAN[@]}"); fi
        local label="pytest [$env]"
        [[ ${#extra[@]} -eq 0 && $# -eq 0 ]] || label+=" ${extra[*]} $*"
        run_step "${label% }" pytest_env "$env" "${extra[@]}" "$@"
        local counts; counts=$(junit_counts "$JUNIT_DIR/$env.xml")
        if [[ -n $counts ]]; then
            local p f s; read -r p f s <<<"$counts"
            STEP_NOTES[-1]="${STEP_NOTES[-1]:+${STEP_NOTES[-1]}; }$p passed, $f failed, $s skipped"
            TOTAL_PASSED=$((TOTAL_PASSED + p)) TOTAL_FAILED=$((TOTAL_FAILED + f))
            TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
        fi
    done
    rm -rf "$JUNIT_DIR"
}

T_START=$(now)
summary() {
    give_back
    local i failed=0
    echo
    printf '%s==> summary%s (total %ss)\n' "$C_B" "$C_0" "$(secs "$T_START" "$(now)")"
    for i in "${!STEP_NAMES[@]}"; do
        local st="${STEP_STATUS[$i]}" col="$C_G"
        [[ $st == ok ]] || { col="$C_R"; failed=$((failed + 1)); }
        printf '    %s%-6s%s %7ss  %s%s\n' "$col" "$st" "$C_0" "${STEP_TIMES[$i]}" "${STEP_NAMES[$i]}" \
            "${STEP_NOTES[$i]:+  [${STEP_NOTES[$i]}]}"
    done
    return 0
}

failed_steps() {
    local n=0 s
    for s in "${STEP_STATUS[@]}"; do [[ $s == ok ]] || n=$((n + 1)); done
    echo "$n"
}

finish() {
    summary
    local n; n=$(failed_steps)
    if ((n == 0)); then
        printf '%sALL STEPS PASSED%s\n' "$C_G" "$C_0"
        return 0
    fi
    printf '%s%d STEP(S) FAILED%s\n' "$C_R" "$n" "$C_0"
    return 1
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------

cmd_test() {
    cmd_setup all
    lint_steps
    test_steps "$@"
    local rc=0
    finish || rc=$?
    # Plain closing line, both envs added up.
    echo "tests: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
    return $rc
}

cmd_lint() {
    cmd_setup latest
    lint_steps
    finish
}

cmd_run() {
    cmd_setup debian >&2
    if [[ ! -e src/rowatch/cli.py && ! -e src/rowatch/cli/__init__.py ]]; then
        die "src/rowatch/cli.py does not exist yet: the 'rowatch run' command is not written"
    fi
    give_back
    say "exec .venv-debian/bin/rowatch run $*" >&2
    exec .venv-debian/bin/rowatch run "$@"
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

cmd="${1:-}"
[[ $# -eq 0 ]] || shift
case "$cmd" in
    setup) cmd_setup "$@"; finish ;;
    test)  cmd_test "$@" ;;
    lint)  cmd_lint "$@" ;;
    run)   cmd_run "$@" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
