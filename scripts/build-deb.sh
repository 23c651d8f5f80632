#!/usr/bin/env bash
# Build rowatch's Debian source and binary packages into dist/ (`make deb`).
#
#   scripts/build-deb.sh [--no-lintian]
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and the project keeps it in
# packaging/debian/. So this copies the source tree (the files git knows, committed or not,
# that are not ignored) to build/deb/rowatch-VERSION/, adds debian/ from packaging/debian/
# and the unit and sysusers.d file from packaging/systemd/, runs `dpkg-buildpackage -us -uc`
# there (source package: 3.0 (native)), then lintian, and copies the results to dist/:
#   rowatch_VERSION.dsc, rowatch_VERSION.tar.xz, rowatch_VERSION_all.deb,
#   rowatch_VERSION_ARCH.buildinfo, rowatch_VERSION_ARCH.changes, lintian.txt
#
# Build tools missing on Debian are installed with apt-get when run as root; otherwise the
# script says which to install. Exits non-zero if the build fails or lintian reports an error
# (warnings and notes are listed in dist/lintian.txt).
#
# Environment: ROWATCH_DIST (default dist/), ROWATCH_BUILD (default build/deb/).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIST="${ROWATCH_DIST:-$ROOT/dist}"
BUILD="${ROWATCH_BUILD:-$ROOT/build/deb}"
LINTIAN=1
for arg in "$@"; do
    case "$arg" in
        --no-lintian) LINTIAN=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--no-lintian]" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------- build tools
TOOLS=(dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
       fakeroot
       # the man page check below imports rowatch's configuration schema, and with it the
       # runtime libraries the package depends on
       python3-structlog python3-aiohttp python3-aiosmtplib python3-pyudev)
((LINTIAN == 0)) || TOOLS+=(lintian)
command -v dpkg-query >/dev/null || die "this builds Debian packages: no dpkg-query here"
missing=()
for pkg in "${TOOLS[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == "ii "* ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    ((EUID == 0)) || die "missing build tools: ${missing[*]}
    sudo apt-get install --no-install-recommends ${missing[*]}"
    say "installing build tools: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update
    apt-get -q install -y --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------------- version
cd "$ROOT"
# The generated files the packages install must match the code they describe.
/usr/bin/python3 scripts/gen_man.py --check || die "the man pages are out of date: make man"
/usr/bin/python3 scripts/gen_catalog.py --check || die "the journal catalog is out of date: make catalog"
# Debian's own interpreter: the one the package is built for (not a pyenv or venv python).
version=$(/usr/bin/python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
changelog=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
[[ $changelog == "$version" || $changelog == "$version"-* ]] \
    || die "packaging/debian/changelog is at $changelog, pyproject.toml at $version: add a changelog entry (dch -c packaging/debian/changelog -v $version)"

# ------------------------------------------------------------------------- source tree
tree="$BUILD/rowatch-$version"
say "copying the source tree to $tree"
rm -rf "$BUILD"
mkdir -p "$tree"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and new files, not ignored ones (venvs, caches, build/, dist/); only those that
    # exist (a deleted file stays "tracked" until committed).
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
            [[ -f $f || -L $f ]] || continue
            case "$f" in .benchmarks/*|bench/work/*|packaging/debian/*) continue ;; esac
            printf '%s\0' "$f"
        done | tar -C "$ROOT" --null -T - -cf - | tar -C "$tree" -xf -
else
    tar -C "$ROOT" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
        --exclude='*/__pycache__' --exclude='./.*cache' --exclude=./.hypothesis \
        --exclude=./.benchmarks --exclude='*.egg-info' -cf - . | tar -C "$tree" -xf -
fi
cp -a packaging/debian "$tree/debian"
cp packaging/systemd/rowatch.service "$tree/debian/rowatch.service"
cp packaging/systemd/rowatch.sysusers.conf "$tree/debian/rowatch.sysusers"

# ------------------------------------------------------------------------- build
say "dpkg-buildpackage -us -uc (source and binary)"
(cd "$tree" && env -u PYTHONPATH -u VIRTUAL_ENV PATH="/usr/sbin:/usr/bin:/sbin:/bin" \
    dpkg-buildpackage -us -uc)

changes=$(ls "$BUILD"/rowatch_"$version"_*.changes)
mkdir -p "$DIST"
rm -f "$DIST"/rowatch_"$version"[_.]*
# Everything the .changes lists, and the .changes itself.
sed -n '/^Files:/,/^[^ ]/{/^ /p}' "$changes" | awk '{print $5}' | while read -r f; do
    cp "$BUILD/$f" "$DIST/"
done
cp "$changes" "$DIST/"

# ------------------------------------------------------------------------- lintian
if ((LINTIAN)); then
    say "lintian"
    rc=0
    lintian --info --display-info --pedantic --tag-display-limit 0 "$changes" \
        >"$DIST/lintian.txt" 2>&1 || rc=$?
    sed 's/^/    /' "$DIST/lintian.txt"
    errors=$(grep -c '^E: ' "$DIST/lintian.txt" || true)
    warnings=$(grep -c '^W: ' "$DIST/lintian.txt" || true)
    echo "    lintian: $errors errors, $warnings warnings (dist/lintian.txt)"
    ((errors == 0 && rc == 0)) || die "lintian reported errors"
fi

say "built:"
ls -l "$DIST"/rowatch_"$version"[_.]*
