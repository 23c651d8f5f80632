#!/usr/bin/env bash
# Build rowatch's source and binary RPMs into dist/ (`make rpm`).
#
#   scripts/build-rpm.sh [--no-rpmlint]
#
# Packs the source tree (the files git knows, committed or not, that are not ignored) as
# rowatch-VERSION.tar.gz, runs `rpmbuild -ba packaging/rpm/rowatch.spec`, then rpmlint, and
# copies rowatch-VERSION-RELEASE.src.rpm, rowatch-VERSION-RELEASE.noarch.rpm and rpmlint.txt
# to dist/. Exits non-zero if the build fails or rpmlint reports an error.
#
# On Fedora/EPEL it needs rpm-build, python3-devel, pyproject-rpm-macros and
# systemd-rpm-macros (plus the build dependencies: `dnf builddep` on the .src.rpm).
# On Debian it needs rpm, rpmlint and python3-build, python3-installer, python3-setuptools
# (installed with apt-get when run as root); it then builds with --nodeps (Debian's packages
# are not in rpm's database) and the spec's fallbacks for the Fedora macros. That RPM is a
# check that the spec builds, not something to install on Debian.
#
# Environment: ROWATCH_DIST (default dist/), ROWATCH_BUILD (default build/rpm/).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIST="${ROWATCH_DIST:-$ROOT/dist}"
BUILD="${ROWATCH_BUILD:-$ROOT/build/rpm}"
SPEC="$ROOT/packaging/rpm/rowatch.spec"
RPMLINT=1
for arg in "$@"; do
    case "$arg" in
        --no-rpmlint) RPMLINT=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--no-rpmlint]" >&2; exit 2 ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'build-rpm: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------- tools
DEBIAN_HOST=0
if command -v dpkg-query >/dev/null && [[ ! -e /etc/redhat-release ]]; then
    DEBIAN_HOST=1
    tools=(rpm python3-build python3-installer python3-setuptools python3-wheel
           python3-structlog python3-aiohttp python3-aiosmtplib python3-pyudev)
    ((RPMLINT == 0)) || tools+=(rpmlint)
    missing=()
    for pkg in "${tools[@]}"; do
        [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == "ii "* ]] || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        ((EUID == 0)) || die "missing tools: ${missing[*]}
    sudo apt-get install --no-install-recommends ${missing[*]}"
        say "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -q update
        apt-get -q install -y --no-install-recommends "${missing[@]}"
    fi
fi
command -v rpmbuild >/dev/null || die "rpmbuild not found (Fedora: dnf install rpm-build python3-devel pyproject-rpm-macros systemd-rpm-macros)"
((RPMLINT == 0)) || command -v rpmlint >/dev/null || die "rpmlint not found (or use --no-rpmlint)"

# ------------------------------------------------------------------------- version
cd "$ROOT"
# The generated files the packages install must match the code they describe.
/usr/bin/python3 scripts/gen_man.py --check || die "the man pages are out of date: make man"
/usr/bin/python3 scripts/gen_catalog.py --check || die "the journal catalog is out of date: make catalog"
version=$(/usr/bin/python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$SPEC")
[[ $spec_version == "$version" ]] \
    || die "packaging/rpm/rowatch.spec is at $spec_version, pyproject.toml at $version: update Version: and %changelog"
[[ -f LICENSE ]] || die "no LICENSE file at the top of the source tree: the spec ships it with %license (Apache-2.0: cp /usr/share/common-licenses/Apache-2.0 LICENSE on Debian)"

# ------------------------------------------------------------------------- sources
rm -rf "$BUILD"
mkdir -p "$BUILD"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
stage="$BUILD/stage/rowatch-$version"
mkdir -p "$stage"
say "packing the source tree as rowatch-$version.tar.gz"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
            [[ -f $f || -L $f ]] || continue
            case "$f" in .benchmarks/*|bench/work/*) continue ;; esac
            printf '%s\0' "$f"
        done | tar -C "$ROOT" --null -T - -cf - | tar -C "$stage" -xf -
else
    tar -C "$ROOT" --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
        --exclude='*/__pycache__' --exclude='./.*cache' --exclude=./.hypothesis \
        --exclude=./.benchmarks --exclude='*.egg-info' -cf - . | tar -C "$stage" -xf -
fi
tar -C "$BUILD/stage" --owner=0 --group=0 --numeric-owner -czf "$BUILD/SOURCES/rowatch-$version.tar.gz" "rowatch-$version"
cp packaging/systemd/rowatch.sysusers.conf "$BUILD/SOURCES/"
cp "$SPEC" "$BUILD/SPECS/"

# ------------------------------------------------------------------------- build
args=(-ba --define "_topdir $BUILD")
if ((DEBIAN_HOST)); then
    # Build dependencies are Debian packages, unknown to rpm; the wheel installs with Debian's
    # layout (/usr/lib/python3/dist-packages, /usr/bin), which the spec's fallback asks for.
    args+=(--nodeps)
    export DEB_PYTHON_INSTALL_LAYOUT=deb
fi
say "rpmbuild ${args[*]}"
env -u PYTHONPATH -u VIRTUAL_ENV PATH="/usr/sbin:/usr/bin:/sbin:/bin" \
    rpmbuild "${args[@]}" "$BUILD/SPECS/rowatch.spec"

mkdir -p "$DIST"
rm -f "$DIST"/rowatch-"$version"-*.rpm
srpm=$(ls "$BUILD"/SRPMS/rowatch-"$version"-*.src.rpm)
rpm_file=$(ls "$BUILD"/RPMS/noarch/rowatch-"$version"-*.noarch.rpm)
cp "$srpm" "$rpm_file" "$DIST/"

# ------------------------------------------------------------------------- rpmlint
if ((RPMLINT)); then
    say "rpmlint"
    rc=0
    rpmlint --info -r packaging/rpm/rowatch.rpmlintrc \
        "$SPEC" "$DIST/$(basename "$srpm")" "$DIST/$(basename "$rpm_file")" \
        >"$DIST/rpmlint.txt" 2>&1 || rc=$?
    sed 's/^/    /' "$DIST/rpmlint.txt"
    summary=$(grep -E '^ *[0-9]+ packages and [0-9]+ specfiles checked' "$DIST/rpmlint.txt" | tail -1 | sed 's/^ *//; s/ *$//' || true)
    errors=$(sed -n 's/.* \([0-9][0-9]*\) errors.*/\1/p' <<<"$summary")
    echo "    rpmlint: ${summary:-no summary} (dist/rpmlint.txt)"
    [[ -n $errors ]] || die "rpmlint did not run (exit $rc)"
    ((errors == 0)) || die "rpmlint reported errors"
fi

say "built:"
ls -l "$DIST"/rowatch-"$version"-*.rpm
