"""Packaging: the systemd unit, the journal catalog, the man pages, the .deb and the RPM.

Fast checks (run everywhere, skip with the reason when a tool is missing):

* the unit passes ``systemd-analyze verify`` (against a stub root holding /usr/bin/rowatch,
  /bin/kill, systemd's own units and the generated man pages) and ``systemd-analyze security
  --offline=true`` rates its exposure at most 2.0;
* the journal catalog and the man pages are what the generators write from the code, journald
  parses the catalog, and the pages render without a single groff warning;
* versions and dependencies agree across pyproject.toml, packaging/debian and the RPM spec.

Slow checks: the RPM builds (rpmbuild + rpmlint), and the .deb builds (dpkg-buildpackage +
lintian), installs into a fresh Debian 12 made with debootstrap, works there, runs as a real
systemd service there (booted with systemd-nspawn), and keeps its state on remove and drops it
on purge; and scripts/demo.sh (make demo) runs and cleans up after itself. The debootstrap
result is cached as a tarball in ``$ROWATCH_CACHE_DIR`` (default ``~/.cache/rowatch``) for a
week; ``ROWATCH_DEBIAN_MIRROR`` overrides the mirror (default: the first Debian mirror in this
machine's APT sources).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "systemd" / "rowatch.service"
SYSUSERS = ROOT / "packaging" / "systemd" / "rowatch.sysusers.conf"
CATALOG = ROOT / "packaging" / "systemd" / "rowatch.catalog"
DEBIAN = ROOT / "packaging" / "debian"
SPEC = ROOT / "packaging" / "rpm" / "rowatch.spec"
MAN_PAGES = {"rowatch.8": 8, "rowatch.toml.5": 5}
REAL_LOG = ROOT / "tests" / "data" / "real" / "ext4-trigger-remount-ro.kmsg"
MAX_EXPOSURE = 2.0
CAP_SYSLOG = 34
#: Debian's interpreter: the generators and build scripts must work with it alone.
SYSTEM_PYTHON = "/usr/bin/python3"


def tool(name: str) -> str:
    """The path of a command, or skip the test saying which package brings it."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        packages = {
            "systemd-analyze": "systemd",
            "journalctl": "systemd",
            "groff": "groff-base",
            "man": "man-db",
            "rpmbuild": "rpm",
            "dpkg-buildpackage": "dpkg-dev",
            "debootstrap": "debootstrap",
            "systemd-nspawn": "systemd-container",
        }
        pytest.skip(f"{name} not found (apt-get install {packages.get(name, name)})")
    return path


def run(
    *argv: str | Path, timeout: float = 60, check: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-8000:]}\n--- stderr\n{proc.stderr[-8000:]}"
        )
    return proc


def unit_settings(path: Path = UNIT) -> dict[str, list[str]]:
    """``Key=value`` of a unit file, every value of a key in order."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def project_version() -> str:
    return str(pyproject()["project"]["version"])  # type: ignore[index]


# =============================================================================== the unit
@pytest.fixture
def stub_root(tmp_path: Path) -> Path:
    """A root directory for ``systemd-analyze verify --root``: systemd's own units, the unit
    under test, and stubs for the programs it runs."""
    root = tmp_path / "root"
    units = next(
        (p for p in (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")) if p.is_dir()),
        None,
    )
    if units is None:
        pytest.skip("no systemd unit directory on this machine (apt-get install systemd)")
    shutil.copytree(units, root / "lib" / "systemd" / "system", symlinks=True)
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc" / "systemd" / "system" / "rowatch.service")
    for program in unit_settings()["ExecStart"] + unit_settings()["ExecReload"]:
        path = root / program.split()[0].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return root


@pytest.fixture
def manpath(tmp_path: Path) -> Path:
    """A MANPATH with the generated pages, for the unit's Documentation= check."""
    path = tmp_path / "man"
    for page, section in MAN_PAGES.items():
        (path / f"man{section}").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "docs" / "man" / page, path / f"man{section}" / page)
    return path


def test_unit_passes_systemd_analyze_verify(stub_root: Path, manpath: Path) -> None:
    analyze = tool("systemd-analyze")
    # verify checks Documentation=man:... with man(1), when there is one
    man = [] if shutil.which("man") else ["--man=no"]
    proc = run(
        analyze,
        "verify",
        *man,
        f"--root={stub_root}",
        "rowatch.service",
        check=False,
        env={**os.environ, "MANPATH": str(manpath), "SYSTEMD_LOG_LEVEL": "notice"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rowatch.service" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_unit_verify_notices_a_missing_program(stub_root: Path, manpath: Path) -> None:
    """The check above is not vacuous: without /usr/bin/rowatch the unit does not verify."""
    analyze = tool("systemd-analyze")
    (stub_root / "usr" / "bin" / "rowatch").unlink()
    proc = run(
        analyze,
        "verify",
        "--man=no",
        f"--root={stub_root}",
        "rowatch.service",
        check=False,
        env={**os.environ, "MANPATH": str(manpath)},
    )
    assert proc.returncode != 0
    assert "/usr/bin/rowatch" in proc.stdout + proc.stderr


def exposure(unit: Path) -> tuple[float, str]:
    """``systemd-analyze security --offline=true``'s overall exposure and its verdict."""
    proc = run(tool("systemd-analyze"), "security", "--offline=true", "--no-pager", unit)
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)", proc.stdout)
    assert found, proc.stdout[-2000:]
    return float(found.group(1)), found.group(2)


def test_unit_exposure_is_ok() -> None:
    score, verdict = exposure(UNIT)
    assert score <= MAX_EXPOSURE, f"exposure {score} {verdict}: the sandbox was loosened"
    assert verdict == "OK"


def test_docs_quote_the_exposure_systemd_analyze_gives(tmp_path: Path) -> None:
    """docs/security.md and the README quote the rating, with and without the fanotify
    drop-in the security doc offers: the figures are measured here, not remembered."""
    score, _ = exposure(UNIT)
    raw = (ROOT / "docs" / "security.md").read_text()
    security = " ".join(raw.split())  # the figures may wrap across lines
    assert f'**{score:.1f}, "OK"**' in security
    assert f"rates it {score:.1f}, OK" in " ".join((ROOT / "README.md").read_text().split())
    drop_in = re.search(r"```ini\n\[Service\]\n(.*?)```", raw, re.S)
    assert drop_in, "the fanotify drop-in is no longer in docs/security.md"
    widened = tmp_path / "rowatch.service"
    widened.write_text(UNIT.read_text().replace("[Install]", drop_in.group(1) + "\n[Install]"))
    wider, verdict = exposure(widened)
    assert f'rises from {score:.1f} to {wider:.1f} (still "{verdict}")' in security


def test_unit_runs_unprivileged_with_only_cap_syslog() -> None:
    settings = unit_settings()
    assert settings["User"] == ["rowatch"]
    assert settings["AmbientCapabilities"] == ["CAP_SYSLOG"]
    assert settings["CapabilityBoundingSet"] == ["CAP_SYSLOG"]
    assert settings["DeviceAllow"] == ["/dev/kmsg r"]
    assert settings["ProtectKernelLogs"] == ["no"]  # yes would take /dev/kmsg away
    # /proc/fs/ext4 and /proc/stat are read: ProcSubset=pid would hide them.
    assert "ProcSubset" not in settings
    assert settings["Type"] == ["notify"]
    assert settings["ExecStart"][0].split()[0] == "/usr/bin/rowatch"
    scripts = pyproject()["project"]["scripts"]  # type: ignore[index]
    assert "rowatch" in scripts  # type: ignore[operator]


def test_sysusers_defines_the_unit_user() -> None:
    lines = [
        line.split()
        for line in SYSUSERS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [(fields[0], fields[1]) for fields in lines] == [("u", "rowatch")]
    assert unit_settings()["StateDirectory"] == ["rowatch"]


# ============================================================================ the catalog
def test_catalog_is_generated_from_messages() -> None:
    proc = run(sys.executable, ROOT / "scripts" / "gen_catalog.py", "--check", check=False)
    assert proc.returncode == 0, proc.stderr


def test_catalog_has_one_entry_per_message_id() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from rowatch.messages import MESSAGES

    ids = re.findall(r"^-- ([0-9a-f]{32})$", CATALOG.read_text(), re.MULTILINE)
    assert sorted(ids) == sorted(m.id for m in MESSAGES.values())


def test_journalctl_reads_the_catalog(tmp_path: Path) -> None:
    journalctl = tool("journalctl")
    catalog_dir = tmp_path / "usr" / "lib" / "systemd" / "catalog"
    catalog_dir.mkdir(parents=True)
    shutil.copy(CATALOG, catalog_dir / "rowatch.catalog")
    run(journalctl, f"--root={tmp_path}", "--update-catalog")
    listed = run(journalctl, f"--root={tmp_path}", "--list-catalog").stdout
    assert listed.count("rowatch: ") == len(re.findall(r"^-- ", CATALOG.read_text(), re.M))
    entry = run(
        journalctl, f"--root={tmp_path}", "--dump-catalog", "10fb8532fbd14099af6099eb0faab3db"
    ).stdout
    assert "Subject: Filesystem went read-only" in entry
    assert "Defined-By: rowatch" in entry
    assert "journalctl -u rowatch -o verbose ROWATCH_INCIDENT=@ROWATCH_INCIDENT@" in entry


# ========================================================================== the man pages
def test_man_pages_are_generated_from_the_code() -> None:
    proc = run(sys.executable, ROOT / "scripts" / "gen_man.py", "--check", check=False)
    assert proc.returncode == 0, proc.stderr


def test_man_page_generator_runs_on_debians_python() -> None:
    """The package builds run it with Debian's python3 and Debian's runtime packages
    (scripts/build-deb.sh installs them): the schema it reads imports the sinks."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} not found")
    for script in ("gen_man.py", "gen_catalog.py"):
        run(SYSTEM_PYTHON, ROOT / "scripts" / script, "--check")


@pytest.mark.parametrize("page", sorted(MAN_PAGES))
def test_man_page_renders_without_warnings(page: str) -> None:
    path = ROOT / "docs" / "man" / page
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
    groff = run(tool("groff"), "-man", "-Tutf8", "-ww", "-z", path, env=env)
    assert groff.stderr == ""
    # What lintian runs on every page of a .deb.
    man = run(tool("man"), "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path, env=env)
    assert man.stderr == ""
    text = run(tool("man"), "-l", path, env=env).stdout
    assert "rowatch" in text


def test_man_pages_document_every_command_and_key() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from rowatch.cli import build_parser
    from rowatch.config import all_keys

    page8 = (ROOT / "docs" / "man" / "rowatch.8").read_text().replace("\\-", "-")
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f".SS {name}\n" in page8, name
    page5 = (ROOT / "docs" / "man" / "rowatch.toml.5").read_text().replace("\\-", "-")
    for key in all_keys():
        section, name = key.split(".")
        assert f".SS [{section}]" in page5 or f".SS [[{section}]]" in page5
        assert f"\\fB{name}\\fR (" in page5, key


# ========================================================================= consistency
def test_package_versions_agree() -> None:
    version = project_version()
    changelog = (DEBIAN / "changelog").read_text().splitlines()[0]
    assert re.match(rf"rowatch \({re.escape(version)}(-\d+)?\) ", changelog), changelog
    spec = SPEC.read_text()
    assert re.search(rf"^Version:\s+{re.escape(version)}$", spec, re.MULTILINE)


def debian_name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()
    return {"systemd-python": "python3-systemd"}.get(name, "python3-" + name.replace("_", "-"))


def test_deb_depends_on_every_runtime_dependency() -> None:
    control = (DEBIAN / "control").read_text()
    binary = control.split("\nPackage: rowatch\n", 1)[1]
    depends = re.search(r"^Depends:(.*?)(?=^\S)", binary, re.MULTILINE | re.DOTALL)
    assert depends
    names = {d.strip().split()[0] for d in depends.group(1).split(",") if d.strip()}
    project = pyproject()["project"]
    wanted = list(project["dependencies"]) + list(  # type: ignore[index, call-overload]
        project["optional-dependencies"]["journal"]  # type: ignore[index]
    )
    missing = sorted({debian_name(r) for r in wanted} - names)
    assert not missing, f"packaging/debian/control Depends lacks {missing}"
    assert "procps" in names  # /bin/kill, for ExecReload=


# ============================================================================== the builds
@pytest.mark.slow
def test_rpm_builds_and_passes_rpmlint(tmp_path: Path) -> None:
    tool("rpmbuild")
    tool("rpmlint")
    debian = shutil.which("dpkg-query") and not Path("/etc/redhat-release").exists()
    if debian and os.geteuid() != 0:
        # build-rpm.sh installs Debian's python3-build and python3-installer as root only
        has = run(SYSTEM_PYTHON, "-c", "import build, installer", check=False).returncode == 0
        if not has:
            pytest.skip("apt-get install python3-build python3-installer (or run as root)")
    if not (ROOT / "LICENSE").exists():
        pytest.skip("no LICENSE file yet: the spec ships it with %license")
    dist = tmp_path / "dist"
    run(
        "bash",
        ROOT / "scripts" / "build-rpm.sh",
        timeout=600,
        env={**os.environ, "ROWATCH_DIST": str(dist), "ROWATCH_BUILD": str(tmp_path / "b")},
    )
    version = project_version()
    rpm_file = next(dist.glob(f"rowatch-{version}-*.noarch.rpm"))
    assert next(dist.glob(f"rowatch-{version}-*.src.rpm"))
    listing = run("rpm", "-qlp", rpm_file).stdout.split()
    for path in (
        "/usr/bin/rowatch",
        "/usr/lib/systemd/system/rowatch.service",
        "/usr/lib/sysusers.d/rowatch.conf",
        "/usr/lib/systemd/catalog/rowatch.catalog",
        "/etc/rowatch/rowatch.toml",
        "/var/lib/rowatch",
    ):
        assert path in listing, path
    assert any(p.startswith("/usr/share/man/man8/rowatch.8") for p in listing)
    assert any(p.startswith("/usr/share/man/man5/rowatch.toml.5") for p in listing)
    assert "0 errors" in (dist / "rpmlint.txt").read_text()
    # Every runtime dependency of pyproject.toml is required, generated or not.
    requires = run("rpm", "-qp", "--requires", rpm_file).stdout
    for requirement in pyproject()["project"]["dependencies"]:  # type: ignore[index]
        name = re.split(r"[<>=! \[]", str(requirement), maxsplit=1)[0].lower()
        assert f"python3dist({name})" in requires, (name, requires)
    config = run("rpm", "-qp", "--configfiles", rpm_file).stdout.split()
    assert config == ["/etc/rowatch/rowatch.toml"]
    state = run("rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm_file).stdout
    assert "cn /etc/rowatch/rowatch.toml" in state  # %config(noreplace)


# ------------------------------------------------------------------------- debootstrap
def debian_mirror() -> str:
    """The Debian mirror this machine's APT uses (deb822 or one-line sources)."""
    if os.environ.get("ROWATCH_DEBIAN_MIRROR"):
        return os.environ["ROWATCH_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        with contextlib.suppress(OSError):
            text = source.read_text()
            for uri in re.findall(r"^URIs:\s*(\S+)|^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
                url = next(u for u in uri if u)
                if url.rstrip("/").endswith("/debian"):
                    return url
    return "http://deb.debian.org/debian"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rowatch"
    return Path(os.environ.get("ROWATCH_CACHE_DIR") or default)


def make_bookworm(root: Path) -> None:
    """A fresh minimal Debian 12 in ``root``: from the cached tarball when it is recent."""
    zstd = shutil.which("zstd")
    tarball = cache_dir() / f"debootstrap-bookworm-minbase.tar.{'zst' if zstd else 'gz'}"
    compress = ["--zstd"] if zstd else ["--gzip"]
    root.mkdir(parents=True)
    if tarball.exists() and time.time() - tarball.stat().st_mtime < 7 * 86400:
        run("tar", "-C", root, *compress, "--numeric-owner", "-xpf", tarball, timeout=300)
        return
    run(
        tool("debootstrap"),
        "--variant=minbase",
        "bookworm",
        root,
        debian_mirror(),
        timeout=900,
    )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    run("tar", "-C", root, *compress, "--numeric-owner", "-cpf", partial, ".", timeout=300)
    partial.replace(tarball)


class Chroot:
    """A Debian tree, and commands run in it with /proc mounted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc_mounted = False

    def unmount_proc(self) -> None:
        if self.proc_mounted:
            subprocess.run(["umount", "-l", str(self.root / "proc")], check=False)
            self.proc_mounted = False

    def __call__(
        self, *argv: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        if not self.proc_mounted:
            run("mount", "-t", "proc", "proc", self.root / "proc")
            self.proc_mounted = True
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive",
            "HOME": "/root",
        }
        return run(
            "chroot", self.root, "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()),
            *argv, check=check, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="module")
def built_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/build-deb.sh's .deb (dpkg-buildpackage, lintian without errors)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (apt-get for the build tools, debootstrap, chroot)")
    tool("dpkg-buildpackage")
    work = tmp_path_factory.mktemp("deb")
    dist = work / "dist"
    started = time.monotonic()
    run(
        "bash",
        ROOT / "scripts" / "build-deb.sh",
        timeout=900,
        env={**os.environ, "ROWATCH_DIST": str(dist), "ROWATCH_BUILD": str(work / "build")},
    )
    print(f"build-deb.sh: {time.monotonic() - started:.1f}s")
    lintian = (dist / "lintian.txt").read_text()
    assert not re.search(r"^E: ", lintian, re.M), lintian
    return next(dist.glob(f"rowatch_{project_version()}_all.deb"))


@pytest.fixture(scope="module")
def bookworm(built_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chroot]:
    """A fresh Debian 12 with the .deb installed by apt-get, dependencies from Debian."""
    root = tmp_path_factory.mktemp("bookworm") / "root"
    started = time.monotonic()
    make_bookworm(root)
    made = time.monotonic()
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    shutil.copy(built_deb, root / "tmp" / built_deb.name)
    shutil.copy(REAL_LOG, root / "tmp" / REAL_LOG.name)
    chroot = Chroot(root)
    try:
        chroot("apt-get", "-q", "update")
        chroot(
            "apt-get", "-q", "install", "-y", "--no-install-recommends", f"/tmp/{built_deb.name}"
        )
        # man(1), to read the installed pages and let systemd-analyze check Documentation=.
        chroot("apt-get", "-q", "install", "-y", "--no-install-recommends", "man-db")
        print(
            f"debian 12 root: {made - started:.1f}s, "
            f"apt-get install: {time.monotonic() - made:.1f}s"
        )
        yield chroot
    finally:
        chroot.unmount_proc()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.root
def test_source_package_builds_with_only_its_build_depends(
    built_deb: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A fresh Debian 12 with only what the source package declares (apt-get build-dep):
    its build and build-time check run there, with nothing the host happened to have."""
    root = tmp_path_factory.mktemp("buildd") / "root"
    make_bookworm(root)
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    version = project_version()
    for name in (f"rowatch_{version}.dsc", f"rowatch_{version}.tar.xz"):
        shutil.copy(built_deb.parent / name, root / "tmp" / name)
    chroot = Chroot(root)
    try:
        chroot("apt-get", "-q", "update")
        chroot("apt-get", "-q", "install", "-y", "--no-install-recommends", "dpkg-dev")
        chroot(
            "apt-get", "-q", "build-dep", "-y", "--no-install-recommends",
            f"/tmp/rowatch_{version}.dsc",
        )  # fmt: skip
        chroot("sh", "-c", f"cd /tmp && dpkg-source -x rowatch_{version}.dsc src")
        built = chroot("sh", "-c", "cd /tmp/src && dpkg-buildpackage -us -uc -b", timeout=900)
        assert f"rowatch_{version}_all.deb" in built.stdout + built.stderr
        assert (root / "tmp" / f"rowatch_{version}_all.deb").exists()
    finally:
        chroot.unmount_proc()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.root
def test_deb_works_in_a_fresh_debian_12(bookworm: Chroot) -> None:
    version = project_version()
    assert bookworm("rowatch", "--version").stdout.strip() == f"rowatch {version}"
    # The conffile is the commented default: it loads, and is the built-in default.
    conf = bookworm("rowatch", "check-config").stdout
    assert conf.startswith("# rowatch configuration from /etc/rowatch/rowatch.toml")
    assert "# default:" not in conf
    replay = bookworm("rowatch", "replay", f"/tmp/{REAL_LOG.name}").stdout
    assert "ext4 remounted read-only" in replay
    assert "1 incidents (1 read-only" in replay
    # The user, the conffile's permissions, the catalog, the unit and its man pages.
    assert "rowatch" in bookworm("getent", "passwd", "rowatch").stdout
    stat = bookworm("stat", "-c", "%U:%G %a", "/etc/rowatch/rowatch.toml").stdout.split()
    assert stat == ["root:rowatch", "640"]
    listed = bookworm("journalctl", "--list-catalog").stdout
    assert "10fb8532fbd14099af6099eb0faab3db rowatch: Filesystem went read-only" in listed
    assert "enabled" in bookworm("systemctl", "is-enabled", "rowatch.service", check=False).stdout
    unit = bookworm("systemctl", "show", "-P", "FragmentPath", "rowatch.service", check=False)
    bookworm(
        "systemd-analyze", "verify", unit.stdout.strip() or "/lib/systemd/system/rowatch.service"
    )
    assert "rowatch.toml" in bookworm("man", "-P", "cat", "rowatch").stdout
    assert "[reconciler]" in bookworm("man", "-P", "cat", "5", "rowatch.toml").stdout


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def booted(chroot: Chroot) -> Iterator[Chroot]:
    """The tree booted with systemd as PID 1 in a container; commands run inside it."""
    nspawn = tool("systemd-nspawn")
    chroot.unmount_proc()  # the container mounts its own
    root = chroot.root
    base = [nspawn, "-D", str(root), "--register=no", "--keep-unit", "-q"]
    probe = subprocess.run(
        [*base, "/bin/true"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"systemd-nspawn cannot start a container here: {probe.stderr.strip()}")
    log = root.parent / "nspawn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # The host's kernel log, and the capability to read it.
            [*base, "-b", "--capability=CAP_SYSLOG", "--bind-ro=/dev/kmsg", "--console=pipe"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        init = None
        while init is None and time.monotonic() < deadline:
            init = next(iter(_children(proc.pid)), None)
            time.sleep(0.2)
        assert init is not None, log.read_text(errors="replace")

        class Inside(Chroot):
            def __call__(
                self, *argv: str, check: bool = True, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
                return run(
                    "nsenter", "-t", str(init), "-a", "/usr/bin/env", "-i",
                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "SYSTEMD_COLORS=0",
                    *argv, check=check, timeout=timeout,
                )  # fmt: skip

        inside = Inside(root)
        while time.monotonic() < deadline:
            state = inside("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the container did not boot:\n{log.read_text(errors='replace')[-4000:]}")
        yield inside
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # nspawn: power the container off
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
@pytest.mark.root
def test_deb_runs_as_a_sandboxed_systemd_service(bookworm: Chroot) -> None:
    """Boot the Debian 12 with the package installed (systemd 252 as PID 1, in a container):
    the unit starts, is ready, reads /dev/kmsg with CAP_SYSLOG alone, reloads, and
    journalctl -x explains its events with the catalog."""
    with booted(bookworm) as inside:
        assert inside("systemctl", "is-active", "rowatch", check=False).stdout.strip() == "active"
        show = inside("systemctl", "show", "rowatch", "-P", "StatusText").stdout
        assert show.startswith("watching "), show
        pid = inside("systemctl", "show", "rowatch", "-P", "MainPID").stdout.strip()
        status = inside("cat", f"/proc/{pid}/status").stdout
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        for cap in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            assert int(fields[cap], 16) == 1 << CAP_SYSLOG, (cap, fields[cap])
        assert fields["NoNewPrivs"].strip() == "1"
        assert fields["Seccomp"].strip() == "2"
        uid = inside("id", "-u", "rowatch").stdout.strip()
        assert fields["Uid"].split()[0] == uid
        assert "kmsg /dev/kmsg" in inside("rowatch", "status", check=False).stdout
        # Any user: the configuration (0640 root:rowatch) is unreadable, the status is not.
        anyone = inside(
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "rowatch", "status", check=False,
        )  # fmt: skip
        assert "kmsg /dev/kmsg" in anyone.stdout, anyone.stderr
        journal = inside("journalctl", "-x", "-u", "rowatch", "--no-pager").stdout
        assert "Defined-By: rowatch" in journal
        assert "Subject: rowatch started" in journal  # the catalog entry of daemon_started
        inside("systemctl", "reload", "rowatch")
        reloaded = inside(
            "journalctl", "-u", "rowatch", "--no-pager", "-o", "cat",
            "MESSAGE_ID=c40480ed84e442c6a2b765b5a8e52472",
        ).stdout  # fmt: skip
        assert "Configuration reloaded" in reloaded
        inside("systemctl", "stop", "rowatch")
        stopped = inside(
            "journalctl", "-u", "rowatch", "--no-pager", "-o", "cat",
            "MESSAGE_ID=94b45679df784b99a28e69fefe05f11d",
        ).stdout  # fmt: skip
        assert "rowatch stopping" in stopped


@pytest.mark.slow
@pytest.mark.root
def test_deb_keeps_state_on_remove_and_drops_it_on_purge(bookworm: Chroot) -> None:
    bookworm("install", "-d", "-o", "rowatch", "-g", "rowatch", "-m", "0700", "/var/lib/rowatch")
    bookworm("sh", "-c", "echo '{}' > /var/lib/rowatch/state.json")
    bookworm("apt-get", "-q", "remove", "-y", "rowatch")
    assert bookworm("test", "-e", "/var/lib/rowatch/state.json", check=False).returncode == 0
    assert bookworm("test", "-e", "/etc/rowatch/rowatch.toml", check=False).returncode == 0
    bookworm("apt-get", "-q", "purge", "-y", "rowatch")
    assert bookworm("test", "-e", "/var/lib/rowatch", check=False).returncode != 0
    assert bookworm("test", "-e", "/etc/rowatch", check=False).returncode != 0
    overrides = bookworm("dpkg-statoverride", "--list", check=False).stdout
    assert "/etc/rowatch" not in overrides


# ============================================================================== the demo
def _demo_leftovers() -> list[str]:
    mounts = [
        line for line in Path("/proc/mounts").read_text().splitlines() if "rowatch-demo" in line
    ]
    loops = run("losetup", "--list", "--noheadings", "-O", "BACK-FILE", check=False).stdout
    return mounts + [line for line in loops.splitlines() if "rowatch-demo" in line]


@pytest.mark.slow
@pytest.mark.root
def test_demo_shows_the_alert_and_cleans_up() -> None:
    """scripts/demo.sh (make demo), with the rowatch under test."""
    if not Path("/sys/fs/ext4").is_dir():
        pytest.skip("no ext4 in this kernel")
    proc = run(
        "bash",
        ROOT / "scripts" / "demo.sh",
        timeout=180,
        env={**os.environ, "NO_COLOR": "1", "ROWATCH": f"{sys.executable} -m rowatch"},
    )
    out = proc.stdout
    assert "Read-only file system" in out, out
    assert "remounted read-only" in out, out  # the alert (mail or log) and rowatch status
    assert "done: the kernel remounted" in out
    assert "cleaned up" in out
    assert not _demo_leftovers()
