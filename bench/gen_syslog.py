#!/usr/bin/env python3
"""Generate a realistic RFC 3164 syslog file for the replay throughput benchmark.

The file is what ``/var/log/syslog`` of a SAN-attached database server looks like over a
few days: sshd, systemd, CRON, postfix, logind, sudo, chronyd, dockerd, and kernel noise
(UFW/netfilter, AppArmor audit, USB, network, perf, and a nightly backup disk whose attach,
EXT4 mount and unmount lines the prefilter also picks up). Into it go a few dozen storage
incidents (clusters of kernel and multipathd lines in the wordings of
``rowatch.signatures``): VMware path failovers that abort an ext3 journal, pvscsi timeouts
under ext4, dm-multipath losing every path under XFS, NVMe timeouts under btrfs, md RAID1
members with medium errors, iSCSI disks taken offline, 2.6-era XFS shutdowns. Kernel eras are
mixed on purpose, so the whole signature table is exercised.

Exactly ``--relevant`` lines (default 1000, 0.1% of 1,000,000) are storage-failure lines;
each incident is one cluster of them on its own devices, hours apart, so ``rowatch replay``
should report exactly one incident per cluster. The output is a pure function of the seed:
same seed, same bytes (file mtime included, which dates the year-less syslog lines).

Writes FILE, FILE.gz (gzip level 6, no name or time in its header) and FILE.manifest.json
(what was generated: counts, incidents, digests). With rowatch importable, it also checks
that the prefilter (``Classifier().prefilter_bytes``) matches the relevant and benign
storage lines and nothing else, and that the classifier recognises each relevant line.

    python3 bench/gen_syslog.py [--lines 1000000] [--relevant 1000] [--seed 20261125] \
        [--out bench/work/syslog-1M.log]
"""

# Log lines are quoted whole, as long as the kernel and daemons print them (as in tests/).
# ruff: noqa: E501

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "db-san01"
# The first line's time; the syslog year comes from the file's mtime (set to the last line).
START = dt.datetime(2026, 11, 21, 0, 0, 3, tzinfo=dt.UTC)
BOOT = dt.datetime(2026, 11, 19, 6, 12, 44, tzinfo=dt.UTC)
DEFAULT_OUT = Path(__file__).resolve().parent / "work" / "syslog-1M.log"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

Line = tuple[float, str, str]  # (epoch seconds, tag as printed before ": ", message)


# --------------------------------------------------------------------------- formatting
def syslog_line(t: float, tag: str, message: str) -> str:
    """``Nov 21 09:01:12 db-san01 kernel: [152345.123456] message``."""
    stamp = time.gmtime(int(t))
    head = f"{MONTHS[stamp.tm_mon - 1]} {stamp.tm_mday:2d} {stamp.tm_hour:02d}:"
    head += f"{stamp.tm_min:02d}:{stamp.tm_sec:02d} {HOST} {tag}: "
    if tag == "kernel":
        uptime = t - BOOT.timestamp()
        return f"{head}[{uptime:12.6f}] {message}"
    return head + message


# --------------------------------------------------------------------------- noise
@dataclass
class NoiseState:
    """What makes noise lines look like one machine's: growing pids, sessions, queue ids."""

    rng: random.Random
    pid: int = 41230
    session: int = 18211
    audit_serial: int = 88123
    usb_number: int = 2
    tags: list[str] = field(default_factory=list)  # postfix queue ids in flight

    def next_pid(self) -> int:
        self.pid += self.rng.randint(1, 40)
        if self.pid > 4_194_000:
            self.pid = 1200
        return self.pid


USERS = ("deploy", "postgres", "backup", "ansible", "monitor")
# Fixed key fingerprints: the same few keys log in all day (and none spells a needle).
FINGERPRINTS = (
    "ED25519 SHA256:q3f9Kx2m4nYw8pd0Tz7uGh1vRb6sLc5ej2aWoE8tUiM",
    "RSA SHA256:h8Jv2wPq9rT4yN6mZ1xKc3bF7sD0gL5aQeUoIi2WnYk",
    "ECDSA SHA256:0pZt7Ns3dQm9Wx2vYk5Hr8Fj1Lb6Gc4aTe0uRi3oPyE",
)
CLIENTS = ("10.20.0.11", "10.20.0.12", "10.20.4.7", "10.20.4.9", "192.0.2.44")
SCANNERS = (
    "203.0.113.5",
    "198.51.100.23",
    "198.51.100.87",
    "203.0.113.191",
    "192.0.2.201",
    "185.220.101.4",
    "45.155.205.233",
    "91.240.118.172",
    "141.98.11.92",
    "80.94.95.115",
)
BAD_USERS = ("admin", "test", "oracle", "ubuntu", "pi", "git", "user", "support", "guest")
DOMAINS = ("example.com", "example.org", "example.net", "corp.example")
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "reports")
UNITS = (
    ("apt-daily.service", "Daily apt download activities"),
    ("logrotate.service", "Rotate log files"),
    ("man-db.service", "Daily man-db regeneration"),
    ("phpsessionclean.service", "Clean php session files"),
    ("sysstat-collect.service", "system activity accounting tool"),
    ("systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories"),
    ("fstrim.service", "Discard unused blocks on filesystems from /etc/fstab"),
    ("certbot.service", "Certbot"),
)
CRON_COMMANDS = (
    "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
    "cd / && run-parts --report /etc/cron.hourly",
    "/usr/local/bin/pg_wal_archive.sh >/dev/null 2>&1",
    "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then "
    "/usr/lib/php/sessionclean; fi",
    "/usr/bin/flock -n /run/lock/metrics.lock /opt/metrics/push.py --quiet",
)
APPARMOR = (
    ('"snap.lxd.daemon"', '"/proc/{p}/mountinfo"', '"lxd"', '"r"'),
    ('"/usr/sbin/cupsd"', '"/etc/ssl/openssl.cnf"', '"cupsd"', '"r"'),
    ('"/usr/sbin/chronyd"', '"/run/chrony/chronyd.pid"', '"chronyd"', '"w"'),
    ('"docker-default"', '"/proc/sysrq-trigger"', '"sh"', '"w"'),
)
DPORTS = (22, 23, 445, 3389, 5900, 8080, 1433, 3306, 5432, 6379, 9200, 27017)


def _ip(rng: random.Random) -> str:
    return rng.choice(SCANNERS)


def n_sshd_accept(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    return f"sshd[{s.next_pid()}]", (
        f"Accepted publickey for {r.choice(USERS)} from {r.choice(CLIENTS)} port "
        f"{r.randint(32768, 60999)} ssh2: {r.choice(FINGERPRINTS)}"
    )


def n_sshd_session(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    user = r.choice(USERS)
    uid = 1000 + USERS.index(user)
    verb = r.choice(("opened", "closed"))
    by = " by (uid=0)" if verb == "opened" else ""
    return (
        f"sshd[{s.pid}]",
        f"pam_unix(sshd:session): session {verb} for user {user}(uid={uid}){by}",
    )


def n_sshd_invalid(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    return f"sshd[{s.next_pid()}]", (
        f"Invalid user {r.choice(BAD_USERS)} from {_ip(r)} port {r.randint(1024, 65535)}"
    )


def n_sshd_preauth(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    ip, port = _ip(r), r.randint(1024, 65535)
    text = r.choice(
        (
            f"Connection closed by authenticating user root {ip} port {port} [preauth]",
            f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
            f"Disconnected from invalid user {r.choice(BAD_USERS)} {ip} port {port} [preauth]",
            "error: kex_exchange_identification: Connection closed by remote host",
            f"banner exchange: Connection from {ip} port {port}: invalid format",
        )
    )
    return f"sshd[{s.pid}]", text


def n_systemd_session(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    s.session += 1
    user = r.choice(USERS)
    text = r.choice(
        (
            f"Started session-{s.session}.scope - Session {s.session} of User {user}.",
            f"session-{s.session - r.randint(1, 30)}.scope: Deactivated successfully.",
            f"Started user@{1000 + USERS.index(user)}.service - User Manager for UID "
            f"{1000 + USERS.index(user)}.",
        )
    )
    return "systemd[1]", text


def n_systemd_unit(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    unit, desc = r.choice(UNITS)
    text = r.choice(
        (
            f"Starting {unit} - {desc}...",
            f"{unit}: Deactivated successfully.",
            f"Finished {unit} - {desc}.",
            f"{unit}: Consumed {r.randint(1, 900) / 100:.3f}s CPU time.",
        )
    )
    return "systemd[1]", text


def n_logind(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    n = s.session - r.randint(0, 20)
    text = r.choice(
        (
            f"New session {n} of user {r.choice(USERS)}.",
            f"Session {n} logged out. Waiting for processes to exit.",
            f"Removed session {n}.",
        )
    )
    return "systemd-logind[912]", text


def n_cron(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    pid = s.next_pid()
    if r.random() < 0.5:
        user = r.choice(("root", "postgres"))
        uid = 0 if user == "root" else 1001
        verb = r.choice(("opened", "closed"))
        by = " by (uid=0)" if verb == "opened" else ""
        return (
            f"CRON[{pid}]",
            f"pam_unix(cron:session): session {verb} for user {user}(uid={uid}){by}",
        )
    return f"CRON[{pid}]", f"({r.choice(('root', 'postgres'))}) CMD ({r.choice(CRON_COMMANDS)})"


def _queue_id(r: random.Random) -> str:
    return "".join(r.choice("0123456789ABCDEF") for _ in range(10))


def n_postfix(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    if not s.tags or r.random() < 0.3:
        s.tags.append(_queue_id(r))
        if len(s.tags) > 20:
            s.tags.pop(0)
    qid = r.choice(s.tags)
    sender = f"{r.choice(PEOPLE)}@{r.choice(DOMAINS)}"
    rcpt = f"{r.choice(PEOPLE)}@{r.choice(DOMAINS)}"
    relay_host = f"mx{r.randint(1, 4)}.{r.choice(DOMAINS)}"
    relay_ip = f"192.0.2.{r.randint(10, 99)}"
    pick = r.randrange(7)
    if pick == 0:
        return (
            f"postfix/smtpd[{s.next_pid()}]",
            f"connect from mail.{r.choice(DOMAINS)}[{relay_ip}]",
        )
    if pick == 1:
        return f"postfix/smtpd[{s.pid}]", (
            f"disconnect from mail.{r.choice(DOMAINS)}[{relay_ip}] ehlo=1 mail=1 rcpt=1 data=1 "
            f"quit=1 commands=5"
        )
    if pick == 2:
        return (
            "postfix/qmgr[1733]",
            f"{qid}: from=<{sender}>, size={r.randint(900, 90000)}, nrcpt=1 (queue active)",
        )
    if pick == 3:
        return f"postfix/cleanup[{s.pid}]", (
            f"{qid}: message-id=<{r.randint(10**11, 10**12)}.{r.randint(1000, 9999)}@{HOST}.{r.choice(DOMAINS)}>"
        )
    if pick == 4:
        return "postfix/qmgr[1733]", f"{qid}: removed"
    d = [r.randint(0, 99) / 100 for _ in range(4)]
    return f"postfix/smtp[{s.next_pid()}]", (
        f"{qid}: to=<{rcpt}>, relay={relay_host}[{relay_ip}]:25, delay={sum(d):.2f}, "
        f"delays={d[0]}/{d[1]}/{d[2]}/{d[3]}, dsn=2.0.0, status=sent (250 2.0.0 OK "
        f"{r.randint(1700000000, 1800000000)} {r.choice('abcdefghkmnpqrstuvwxyz')}"
        f"{r.randint(100, 999)}si{r.randint(1000, 9999)}.{r.randint(100, 999)} - gsmtp)"
    )


def n_sudo(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    command = r.choice(
        (
            "/usr/bin/systemctl restart pgbouncer",
            "/usr/bin/journalctl -u postgresql --since -1h",
            "/usr/sbin/multipath -ll",
            "/usr/bin/apt-get update",
            "/usr/bin/df -h",
        )
    )
    user = r.choice(USERS)
    return (
        "sudo",
        f"{user:>8} : TTY=pts/{r.randint(0, 4)} ; PWD=/home/{user} ; USER=root ; COMMAND={command}",
    )


def n_chronyd(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    text = r.choice(
        (
            f"Selected source 192.0.2.{r.randint(1, 9)} (ntp{r.randint(1, 3)}.example.net)",
            f"Source 192.0.2.{r.randint(1, 9)} replaced with 198.51.100.{r.randint(1, 9)} "
            f"(2.debian.pool.ntp.org)",
            f"System clock wrong by {r.randint(1, 900) / 1000:.6f} seconds, adjustment started",
        )
    )
    return "chronyd[833]", text


def n_dockerd(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    cid = "".join(r.choice("0123456789abcdef") for _ in range(64))
    when = f"2026-11-2{r.randint(1, 4)}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
    when += f"{r.randint(0, 59):02d}.{r.randint(0, 999999999):09d}Z"
    text = r.choice(
        (
            f'time="{when}" level=info msg="ignoring event" container={cid} module=libcontainerd '
            f'namespace=moby topic=/tasks/delete type="*events.TaskDelete"',
            f'time="{when}" level=info msg="shim disconnected" id={cid[:12]} namespace=moby',
            f'time="{when}" level=warning msg="cleaning up after shim disconnected" id={cid} '
            f"namespace=moby",
        )
    )
    return "dockerd[1187]", text


def n_k_ufw(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    proto = r.choice(("TCP", "TCP", "TCP", "UDP"))
    tail = (
        f"SPT={r.randint(1024, 65535)} DPT={r.choice(DPORTS)} WINDOW={r.choice((1024, 65535, 29200))} "
        f"RES=0x00 SYN URGP=0"
        if proto == "TCP"
        else f"SPT={r.randint(1024, 65535)} DPT={r.choice((53, 123, 161, 1900, 5060))} LEN={r.randint(8, 120)}"
    )
    return "kernel", (
        f"[UFW BLOCK] IN=ens192 OUT= MAC=00:50:56:a1:4b:2c:00:50:56:a1:c0:01:08:00 "
        f"SRC={_ip(r)} DST=10.20.30.40 LEN={r.randint(40, 60)} TOS=0x00 PREC=0x00 "
        f"TTL={r.randint(40, 250)} ID={r.randint(1, 65535)} PROTO={proto} {tail}"
    )


def n_k_audit(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    s.audit_serial += 1
    profile, name, comm, mask = r.choice(APPARMOR)
    name = name.format(p=r.randint(300, 99999))
    stamp = f"{r.randint(1795000000, 1795999999)}.{r.randint(0, 999):03d}"
    return "kernel", (
        f'audit: type=1400 audit({stamp}:{s.audit_serial}): apparmor="DENIED" operation="open" '
        f'class="file" profile={profile} name={name} pid={r.randint(300, 99999)} comm={comm} '
        f"requested_mask={mask} denied_mask={mask} fsuid=0 ouid=0"
    )


def n_k_misc(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    veth = "veth" + "".join(r.choice("0123456789abcdef") for _ in range(7))
    pick = r.randrange(10)
    text = (
        f"perf: interrupt took too long ({r.randint(2500, 5000)} > {r.randint(2500, 5000)}), "
        f"lowering kernel.perf_event_max_sample_rate to {r.randint(30000, 80000)}",
        "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP "
        "counters.",
        f"IPv4: martian source 10.20.30.255 from 10.20.30.{r.randint(2, 250)}, on dev ens192",
        f"ll header: 00000000: ff ff ff ff ff ff 00 50 56 a1 {r.randint(16, 255):02x} 2c 08 00",
        f"docker0: port {r.randint(1, 9)}({veth}) entered forwarding state",
        f"docker0: port {r.randint(1, 9)}({veth}) entered disabled state",
        f"device {veth} entered promiscuous mode",
        f"eth0: renamed from {veth}",
        f"IPv6: ADDRCONF(NETDEV_CHANGE): {veth}: link becomes ready",
        "nf_conntrack: nf_conntrack: table full, dropping packet",
    )[pick]
    return "kernel", text


def n_k_usb(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    port = f"{r.randint(1, 2)}-{r.randint(1, 2)}"
    if r.random() < 0.5:
        s.usb_number += 1
        text = f"usb {port}: new full-speed USB device number {s.usb_number} using uhci_hcd"
    else:
        text = r.choice(
            (
                f"usb {port}: USB disconnect, device number {s.usb_number}",
                f"usb {port}: New USB device found, idVendor=0e0f, idProduct=0003, bcdDevice= 1.02",
                f"usb {port}: New USB device strings: Mfr=1, Product=2, SerialNumber=0",
                f"usb {port}: Product: VMware Virtual USB Mouse",
                f"input: VMware VMware Virtual USB Mouse as /devices/pci0000:00/0000:00:11.0/"
                f"0000:02:00.0/usb2/{port}/{port}:1.0/0003:0E0F:0003.000{r.randint(1, 9)}/input/"
                f"input{r.randint(5, 40)}",
            )
        )
    return "kernel", text


def n_misc_user(s: NoiseState) -> tuple[str, str]:
    r = s.rng
    pick = r.randrange(6)
    if pick == 0:
        # Not dbus-daemon's "[system] Activating via systemd: ...": the prefilter's ": [s"
        # (for "sd 0:0:0:0: [sda]") matches it, which would put thousands of non-storage
        # lines among the 0.1%; see bench/README.md.
        return "polkitd[740]", (
            f"Registered Authentication Agent for unix-process:{s.next_pid()}:{r.randint(10**6, 10**8)} (system bus name :1.{r.randint(10, 999)} "
            "[/usr/bin/pkttyagent --notify-fd 5 --fallback], object path "
            "/org/freedesktop/PolicyKit1/AuthenticationAgent, locale en_US.UTF-8)"
        )
    if pick == 1:
        return "rsyslogd[701]", (
            '[origin software="rsyslogd" swVersion="8.2302.0" x-pid="701" '
            'x-info="https://www.rsyslog.com"] rsyslogd was HUPed'
        )
    if pick == 2:
        return "snapd[1022]", (
            f"storehelpers.go:{r.randint(700, 800)}: cannot refresh: snap has no updates available: "
            f'"core20", "lxd", "snapd"'
        )
    if pick == 3:
        return (
            "systemd-networkd[611]",
            "ens192: DHCPv4 address 10.20.30.40/24, gateway 10.20.30.1 acquired from 10.20.30.2",
        )
    if pick == 4:
        return "pgbouncer[2210]", (
            f"stats: {r.randint(1, 300)} xacts/s, {r.randint(1, 900)} queries/s, in "
            f"{r.randint(1000, 90000)} B/s, out {r.randint(1000, 900000)} B/s, xact "
            f"{r.randint(100, 9000)} us, query {r.randint(100, 9000)} us, wait {r.randint(0, 90)} us"
        )
    return (
        "multipathd[812]",
        f"mpath{r.choice('abcdef')}: load table [0 {r.choice((419430400, 838860800))} multipath 1 queue_if_no_path 1 alua 1 1 service-time 0 2 1 8:{16 * r.randint(1, 9)} 1 1 8:{16 * r.randint(10, 15)} 1 1]",
    )


NOISE: tuple[tuple[Callable[[NoiseState], tuple[str, str]], float], ...] = (
    (n_sshd_accept, 4.0),
    (n_sshd_session, 8.0),
    (n_sshd_invalid, 6.0),
    (n_sshd_preauth, 9.0),
    (n_systemd_session, 8.0),
    (n_systemd_unit, 6.0),
    (n_logind, 6.0),
    (n_cron, 10.0),
    (n_postfix, 16.0),
    (n_sudo, 1.5),
    (n_chronyd, 0.8),
    (n_dockerd, 3.0),
    (n_k_ufw, 12.0),
    (n_k_audit, 4.0),
    (n_k_misc, 3.5),
    (n_k_usb, 0.7),
    (n_misc_user, 1.5),
)


# --------------------------------------------------------------------------- storage lines
def backup_disk_night(rng: random.Random, when: float, night: int) -> list[Line]:
    """The nightly USB backup disk: benign storage lines (attach, mount, unmount).

    Their sd and EXT4-fs lines pass the prefilter (as they would for grep); they must end
    no incident and open none."""
    uuid = "0b2f41c7-9d3e-4f0a-8c61-5e7d2a9b4c13"
    number = 40 + night
    out: list[Line] = []
    k = "kernel"
    seq = [
        (0.0, f"usb 2-1: new SuperSpeed USB device number {number} using xhci_hcd"),
        (0.2, "usb-storage 2-1:1.0: USB Mass Storage device detected"),
        (0.2, "scsi host7: usb-storage 2-1:1.0"),
        (1.3, "scsi 7:0:0:0: Direct-Access     WD       Elements 25A3    1021 PQ: 0 ANSI: 6"),
        (1.3, "sd 7:0:0:0: Attached scsi generic sg9 type 0"),
        (1.4, "sd 7:0:0:0: [sdz] 3906963456 512-byte logical blocks: (2.00 TB/1.82 TiB)"),
        (1.4, "sd 7:0:0:0: [sdz] Write Protect is off"),
        (1.5, "sd 7:0:0:0: [sdz] Attached SCSI disk"),
        (1.5, " sdz: sdz1"),
        (
            3.1,
            f"EXT4-fs (sdz1): mounted filesystem {uuid} r/w with ordered data mode. Quota mode: none.",
        ),
    ]
    for offset, text in seq:
        out.append((when + offset, k, text))
    end = when + rng.uniform(2400, 4800)
    out.append((end, k, f"EXT4-fs (sdz1): unmounting filesystem {uuid}."))
    out.append((end + 2.5, k, f"usb 2-1: USB disconnect, device number {number}"))
    return out


@dataclass
class Devices:
    """Device names for one incident; every incident gets its own (sdz is the backup disk)."""

    disk: str
    disk2: str
    dm: int
    target: int
    nvme: int
    md: int
    majmin: str  # "8:16": what dm-multipath names a path by
    majmin2: str


def sd_majmin(index: int) -> str:
    """``major:minor`` of sd disk ``index`` (0 = sda): 8:0 - 8:240, then 65:0 - 71:240."""
    major = 8 if index < 16 else 65 + (index - 16) // 16
    return f"{major}:{index % 16 * 16}"


def sd_name(index: int) -> str:
    """The kernel's sd naming: 0 -> sda, 25 -> sdz, 26 -> sdaa."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(ord("a") + rem) + name
    return "sd" + name


Scenario = Callable[[random.Random, Devices, int], list[tuple[float, str, str]]]
# A scenario returns (offset seconds from the incident's start, tag, message), in order, with
# ``extra`` more repeated error lines than its skeleton.


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _hex(rng: random.Random, digits: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def sc_esx_ext3(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """RHEL 5 guest on ESX, 2.6.18 wording: path failover BUSY, ext3 journal abort (the seed)."""
    k = "kernel"
    dm = f"dm-{d.dm}"
    r_scsi, r_io, r_buf = _split(rng, extra, 3)
    out: list[tuple[float, str, str]] = []
    t = 0.0
    for _ in range(2 + r_scsi):
        out.append((t, k, f"SCSI error : <0 0 {d.target} 0> return code = 0x20008"))
        t += rng.uniform(0.0, 3.0)
    sector = rng.randint(10**6, 10**8)
    for _ in range(2 + r_io):
        out.append((t, k, f"end_request: I/O error, dev {d.disk}, sector {sector}"))
        sector += rng.choice((8, 16, 64, 1024))
        t += rng.uniform(0.0, 0.5)
    block = rng.randint(10**5, 10**7)
    for j in range(2 + r_buf):  # each failed page: "Buffer I/O error", then "lost page write"
        if j % 2 == 0:
            out.append((t, k, f"Buffer I/O error on device {dm}, logical block {block}"))
            block += rng.randint(1, 40)
        else:
            out.append((t, k, f"lost page write due to I/O error on {dm}"))
    out += [
        (t + 0.1, k, f"Aborting journal on device {dm}."),
        (t + 0.1, k, "ext3_abort called."),
        (
            t + 0.1,
            k,
            f"EXT3-fs error (device {dm}): ext3_journal_start_sb: Detected aborted journal",
        ),
        (t + 0.1, k, "Remounting filesystem read-only"),
        (
            t + 0.6,
            k,
            f"EXT3-fs error (device {dm}) in ext3_reserve_inode_write: Journal has aborted",
        ),
    ]
    return out


def sc_pvscsi_ext4(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """6.x guest on vmw_pvscsi: command timeouts, aborts, ext4 jbd2 abort, remount-ro."""
    k = "kernel"
    part = f"{d.disk}1"
    addr = f"sd 2:0:{d.target}:0: [{d.disk}]"
    r_abort, r_io, r_buf, r_warn = _split(rng, extra, 4)
    out: list[tuple[float, str, str]] = []
    t = 0.0
    for _ in range(1 + r_abort):
        out.append(
            (t, k, f"{addr} tag#{rng.randint(0, 255)} task abort on host 2, 00000000{_hex(rng, 8)}")
        )
        t += rng.uniform(0.5, 8.0)
    tag = rng.randint(0, 255)
    sector = rng.randint(10**6, 10**9)
    out += [
        (
            t,
            k,
            f"{addr} tag#{tag} FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK cmd_age=180s",
        ),
        (
            t,
            k,
            f"{addr} tag#{tag} CDB: Write(10) 2a 00 {sector >> 24 & 255:02x} {sector >> 16 & 255:02x} "
            f"{sector >> 8 & 255:02x} {sector & 255:02x} 00 00 08 00",
        ),
    ]
    n_io = 2 + r_io
    for i in range(n_io):
        if i == 1 and r_io > 4:  # the rate limit kicks in: one line says how many it dropped
            out.append((t, k, f"blk_print_req_error: {rng.randint(5, 300)} callbacks suppressed"))
            continue
        out.append(
            (
                t,
                k,
                f"I/O error, dev {d.disk}, sector {sector} op 0x1:(WRITE) flags 0x103000 phys_seg 1 prio class 2",
            )
        )
        sector += rng.choice((8, 64, 2048))
        t += rng.uniform(0.0, 0.3)
    block = rng.randint(10**5, 10**7)
    for _ in range(1 + r_buf):
        out.append(
            (t, k, f"Buffer I/O error on dev {part}, logical block {block}, lost async page write")
        )
        block += rng.randint(1, 12)
    for _ in range(1 + r_warn):
        out.append(
            (
                t,
                k,
                f"EXT4-fs warning (device {part}): ext4_end_bio:343: I/O error 10 writing to inode "
                f"{rng.randint(12, 900000)} starting block {rng.randint(10**4, 10**8)})",
            )
        )
    out += [
        (t + 0.2, k, f"Aborting journal on device {part}-8."),
        (
            t + 0.2,
            k,
            f"EXT4-fs error (device {part}): ext4_journal_check_start:83: comm kworker/u4:2: Detected aborted journal",
        ),
        (t + 0.2, k, f"EXT4-fs ({part}): Remounting filesystem read-only"),
        (t + 0.3, k, f"JBD2: Error -5 detected when updating journal superblock for {part}-8."),
    ]
    return out


def sc_multipath_xfs(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """FC SAN, dm-multipath with two paths that both fail; XFS on the map shuts down."""
    k, mp = "kernel", "multipathd[812]"
    dm = f"dm-{d.dm}"
    alias = f"mpath{chr(ord('a') + d.dm % 26)}{d.dm // 26 or ''}"
    r_rej, r_io, r_meta = _split(rng, extra, 3)
    out: list[tuple[float, str, str]] = [
        (0.0, k, f"sd 3:0:0:{d.target}: rejecting I/O to offline device"),
        (0.0, k, f"device-mapper: multipath: 253:{d.dm}: Failing path {d.majmin}."),
        (0.4, mp, f"{alias}: {d.disk} - tur checker reports path is down"),
        (0.4, mp, f"{alias}: remaining active paths: 1"),
    ]
    t = rng.uniform(3.0, 25.0)
    for _ in range(1 + r_rej):
        out.append((t, k, f"sd 4:0:0:{d.target}: rejecting I/O to offline device"))
        t += rng.uniform(0.0, 0.2)
    out += [
        (t, k, f"device-mapper: multipath: 253:{d.dm}: Failing path {d.majmin2}."),
        (t + 0.3, mp, f"{alias}: {d.disk2} - tur checker reports path is down"),
        (t + 0.3, mp, f"{alias}: remaining active paths: 0"),
    ]
    t += 0.5
    sector = rng.randint(10**6, 10**9)
    for _ in range(1 + r_io):
        out.append(
            (
                t,
                k,
                f"I/O error, dev {dm}, sector {sector} op 0x1:(WRITE) flags 0x9800 phys_seg 1 prio class 2",
            )
        )
        sector += rng.choice((8, 32, 256))
        t += rng.uniform(0.0, 0.1)
    for _ in range(1 + r_meta):
        out.append(
            (
                t,
                k,
                f'XFS ({dm}): metadata I/O error in "xfs_buf_ioend+0x228/0x5f0 [xfs]" at daddr '
                f"0x{rng.randint(10**5, 10**9):x} len 32 error 5",
            )
        )
    out += [
        (t + 0.1, k, f"XFS ({dm}): log I/O error -5"),
        (
            t + 0.1,
            k,
            f"XFS ({dm}): Log I/O Error (0x2) detected at xlog_ioend_work+0x6e/0x70 [xfs] "
            "(fs/xfs/xfs_log.c:1378).  Shutting down filesystem.",
        ),
    ]
    return out


def sc_nvme_btrfs(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """Local NVMe that stops answering; btrfs aborts its transaction and forces read-only."""
    k = "kernel"
    ns = f"nvme{d.nvme}n1"
    part = f"{ns}p2"
    r_to, r_io, r_stats = _split(rng, extra, 3)
    out: list[tuple[float, str, str]] = []
    t = 0.0
    qid = rng.randint(1, 8)
    for _ in range(1 + r_to):
        tag = rng.randint(0, 1023)
        out.append(
            (
                t,
                k,
                f"nvme nvme{d.nvme}: I/O tag {tag} ({rng.randint(1, 9)}{tag:03x}) opcode 0x1 (I/O Cmd) "
                f"QID {qid} timeout, aborting req_op:WRITE(1) size:131072",
            )
        )
        t += rng.uniform(0.0, 0.4)
    t += 30.0
    out.append(
        (
            t,
            k,
            f"nvme nvme{d.nvme}: I/O tag {rng.randint(0, 1023)} (0{_hex(rng, 3)}) opcode 0x1 (I/O Cmd) "
            f"QID {qid} timeout, reset controller",
        )
    )
    lba = rng.randint(10**6, 10**9)
    out.append(
        (t + 0.5, k, f"{ns}: I/O Cmd(0x1) @ LBA {lba}, 256 blocks, I/O Error (sct 0x3 / sc 0x71) ")
    )
    for i in range(1 + r_io):
        out.append(
            (
                t + 0.5,
                k,
                f"I/O error, dev {ns}, sector {lba + 256 * i} op 0x1:(WRITE) flags 0x8800 phys_seg 32 prio class 2",
            )
        )
    for errs in range(1, 2 + r_stats):  # the write error counter goes up with each line
        out.append(
            (
                t + 0.6,
                k,
                f"BTRFS error (device {part}): bdev /dev/{part} errs: wr {errs}, rd 0, flush 0, corrupt 0, gen 0",
            )
        )
    out += [
        (
            t + 0.7,
            k,
            f"BTRFS: error (device {part}) in btrfs_commit_transaction:2494: errno=-5 IO failure (Error while writing out transaction)",
        ),
        (t + 0.7, k, f"BTRFS info (device {part}: state E): forced readonly"),
        (
            t + 0.7,
            k,
            f"BTRFS warning (device {part}: state E): Skipping commit of aborted transaction.",
        ),
    ]
    return out


def sc_md_medium(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """A RAID1 member with unreadable sectors: md fails it; the array goes on (a warning)."""
    k = "kernel"
    addr = f"sd 0:0:{d.target}:0: [{d.disk}]"
    out: list[tuple[float, str, str]] = []
    t = 0.0
    sector = rng.randint(10**6, 10**9)
    rounds = 2 + extra // 5
    leftover = extra % 5
    for i in range(rounds):
        tag = rng.randint(0, 31)
        out += [
            (
                t,
                k,
                f"{addr} tag#{tag} FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age={rng.randint(3, 9)}s",
            ),
            (t, k, f"{addr} tag#{tag} Sense Key : Medium Error [current] "),
            (t, k, f"{addr} tag#{tag} Add. Sense: Unrecovered read error - auto reallocate failed"),
            (
                t,
                k,
                f"{addr} tag#{tag} CDB: Read(10) 28 00 {sector >> 24 & 255:02x} {sector >> 16 & 255:02x} "
                f"{sector >> 8 & 255:02x} {sector & 255:02x} 00 00 08 00",
            ),
            (
                t,
                k,
                f"critical medium error, dev {d.disk}, sector {sector} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
            ),
        ]
        if i == 0:
            for _ in range(leftover):
                out.append(
                    (
                        t,
                        k,
                        f"critical medium error, dev {d.disk}, sector {sector + 8} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
                    )
                )
        sector += rng.randint(8, 4096)
        t += rng.uniform(4.0, 9.0)
    out.append((t, k, f"md/raid1:md{d.md}: Disk failure on {d.disk}2, disabling device."))
    return out


def sc_iscsi_ext4(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """3.x iSCSI session lost: FAILFAST, device offlined, jbd2 abort, ext4 read-only."""
    k = "kernel"
    part = f"{d.disk}1"
    addr = f"sd 5:0:0:{d.target}:"
    r_rej, r_io, r_buf = _split(rng, extra, 3)
    sector = rng.randint(10**6, 10**9)
    out: list[tuple[float, str, str]] = [
        (0.0, k, f"{addr} [{d.disk}] Unhandled error code"),
        (
            0.0,
            k,
            f"{addr} [{d.disk}]  Result: hostbyte=DID_TRANSPORT_FAILFAST driverbyte=DRIVER_OK",
        ),
        (
            0.0,
            k,
            f"{addr} [{d.disk}] CDB: Write(10): 2a 00 {sector >> 24 & 255:02x} {sector >> 16 & 255:02x} "
            f"{sector >> 8 & 255:02x} {sector & 255:02x} 00 00 08 00",
        ),
    ]
    t = rng.uniform(5.0, 20.0)
    out.append((t, k, f"{addr} Device offlined - not ready after error recovery"))
    for _ in range(1 + r_rej):
        out.append((t, k, f"{addr} rejecting I/O to offline device"))
        t += rng.uniform(0.0, 0.05)
    n_io = 1 + r_io
    if r_io > 3:
        out.append((t, k, f"end_request: {rng.randint(3, 90)} callbacks suppressed"))
        n_io -= 1
    for _ in range(n_io):
        out.append((t, k, f"end_request: I/O error, dev {d.disk}, sector {sector}"))
        sector += 8
    block = rng.randint(10**5, 10**7)
    for j in range(2 + r_buf):
        if j % 2 == 0:
            out.append((t, k, f"Buffer I/O error on device {part}, logical block {block}"))
            block += 1
        else:
            out.append((t, k, f"lost page write due to I/O error on {part}"))
    out += [
        (t + 0.1, k, f"JBD2: Detected IO errors while flushing file data on {part}-8"),
        (t + 0.1, k, f"Aborting journal on device {part}-8."),
        (
            t + 0.1,
            k,
            f"EXT4-fs error (device {part}): ext4_journal_start_sb:327: Detected aborted journal",
        ),
        (t + 0.1, k, f"EXT4-fs ({part}): Remounting filesystem read-only"),
        (t + 0.2, k, f"JBD2: I/O error detected when updating journal superblock for {part}-8."),
    ]
    return out


def sc_xfs26(rng: random.Random, d: Devices, extra: int) -> list[tuple[float, str, str]]:
    """RHEL 6-era XFS on LVM: metadata writes fail, log I/O error, shutdown (2.6 wording)."""
    k = "kernel"
    dm = f"dm-{d.dm}"
    r_io, r_meta = _split(rng, extra, 2)
    out: list[tuple[float, str, str]] = []
    t = 0.0
    sector = rng.randint(10**6, 10**9)
    for _ in range(2 + r_io):
        out.append((t, k, f"end_request: I/O error, dev {d.disk}, sector {sector}"))
        sector += rng.choice((8, 64, 1024))
        t += rng.uniform(0.0, 0.4)
    for _ in range(1 + r_meta):
        out.append(
            (
                t,
                k,
                f'I/O error in filesystem ("{dm}") meta-data dev {dm} block 0x{rng.randint(10**5, 10**8):x}'
                f'       ("xlog_iodone") error 5 buf count 32768',
            )
        )
    out += [
        (
            t + 0.1,
            k,
            f"xfs_force_shutdown({dm},0x2) called from line 1043 of file fs/xfs/xfs_log.c.  "
            f"Return address = 0xffffffff{_hex(rng, 8)}",
        ),
        (t + 0.1, k, f'Filesystem "{dm}": Log I/O Error Detected.  Shutting down filesystem: {dm}'),
    ]
    return out


def sc_scsi_old_ext4_errors(
    rng: random.Random, d: Devices, extra: int
) -> list[tuple[float, str, str]]:
    """4.x guest: DID_BAD_TARGET then ext4 metadata read errors, superblock write error,
    remount read-only."""
    k = "kernel"
    part = f"{d.disk}1"
    addr = f"sd 0:0:{d.target}:0: [{d.disk}]"
    r_io, r_fs = _split(rng, extra, 2)
    sector = rng.randint(10**6, 10**9)
    out: list[tuple[float, str, str]] = []
    t = 0.0
    tag = rng.randint(0, 63)
    out += [
        (t, k, f"{addr} tag#{tag} FAILED Result: hostbyte=DID_BAD_TARGET driverbyte=DRIVER_OK"),
        (
            t,
            k,
            f"{addr} tag#{tag} CDB: Read(10) 28 00 {sector >> 24 & 255:02x} {sector >> 16 & 255:02x} "
            f"{sector >> 8 & 255:02x} {sector & 255:02x} 00 00 08 00",
        ),
    ]
    for _ in range(1 + r_io):
        out.append((t, k, f"print_req_error: I/O error, dev {d.disk}, sector {sector}"))
        sector += 8
        t += rng.uniform(0.0, 0.2)
    for _ in range(1 + r_fs):
        out.append(
            (
                t,
                k,
                f"EXT4-fs error (device {part}): __ext4_find_entry:1535: inode #{rng.randint(2, 900000)}: "
                f"comm postgres: reading directory lblock 0",
            )
        )
    out += [
        (t + 0.1, k, f"EXT4-fs ({part}): I/O error while writing superblock"),
        (t + 0.1, k, f"EXT4-fs ({part}): Remounting filesystem read-only"),
    ]
    return out


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "esx_ext3": (sc_esx_ext3, "read_only"),
    "pvscsi_ext4": (sc_pvscsi_ext4, "read_only"),
    "multipath_xfs": (sc_multipath_xfs, "shutdown"),
    "nvme_btrfs": (sc_nvme_btrfs, "read_only"),
    "md_raid1_medium": (sc_md_medium, ""),
    "iscsi_ext4": (sc_iscsi_ext4, "read_only"),
    "xfs26_shutdown": (sc_xfs26, "shutdown"),
    "ext4_bad_target": (sc_scsi_old_ext4_errors, "read_only"),
}


def filesystem_device(name: str, d: Devices) -> str | None:
    if name in ("esx_ext3", "multipath_xfs", "xfs26_shutdown"):
        return f"dm-{d.dm}"
    if name == "nvme_btrfs":
        return f"nvme{d.nvme}n1p2"
    if name == "md_raid1_medium":
        return None
    return f"{d.disk}1"


# --------------------------------------------------------------------------- assembling
def build(args: argparse.Namespace) -> tuple[list[str], dict[str, Any], list[str], list[str]]:
    """The lines, the manifest, and the texts of the failure and benign storage lines."""
    rng = random.Random(args.seed)
    names = list(SCENARIOS)
    # Scenarios in a shuffled round-robin, so each kind appears evenly.
    order = [names[i % len(names)] for i in range(args.incidents)]
    rng.shuffle(order)

    # Devices: every incident its own disks, dm, SCSI target, NVMe controller, md array.
    disks = [i for i in range(1, 2 * args.incidents + 2) if sd_name(i) != "sdz"]
    devices = [
        Devices(
            disk=sd_name(disks[2 * i]),
            disk2=sd_name(disks[2 * i + 1]),
            dm=2 + i,
            target=1 + i,
            nvme=1 + order[:i].count(name),  # nvme0 is the boot disk
            md=order[:i].count(name),
            majmin=sd_majmin(disks[2 * i]),
            majmin2=sd_majmin(disks[2 * i + 1]),
        )
        for i, name in enumerate(order)
    ]

    # Skeletons first, then the remaining relevant lines spread over incidents as extra
    # repeated error lines (kernel errors come in bursts).
    skeleton = [len(SCENARIOS[n][0](random.Random(0), devices[i], 0)) for i, n in enumerate(order)]
    spare = args.relevant - sum(skeleton)
    if spare < 0:
        sys.exit(f"--relevant {args.relevant} is below the {sum(skeleton)} skeleton lines")
    extras = _split(rng, spare, args.incidents)

    span = args.lines * args.mean_gap
    slot = span / (args.incidents + 1)
    incident_lines: list[Line] = []
    manifest_incidents: list[dict[str, Any]] = []
    for i, name in enumerate(order):
        func, outcome = SCENARIOS[name]
        start = START.timestamp() + slot * (i + 1) + rng.uniform(-0.2, 0.2) * slot
        lines = func(rng, devices[i], extras[i])
        # Lines are (offset, tag, text); two-step calls above must not break the count.
        assert len(lines) == skeleton[i] + extras[i], (name, len(lines), skeleton[i], extras[i])
        incident_lines += [(start + off, tag, text) for off, tag, text in lines]
        manifest_incidents.append(
            {
                "scenario": name,
                "start": dt.datetime.fromtimestamp(int(start), dt.UTC).isoformat(),
                "end": dt.datetime.fromtimestamp(int(start + lines[-1][0]), dt.UTC).isoformat(),
                "filesystem_device": filesystem_device(name, devices[i]),
                "outcome": outcome or None,
                "lines": len(lines),
            }
        )
    assert len(incident_lines) == args.relevant

    benign: list[Line] = []
    night = START.replace(hour=2, minute=rng.randint(0, 20), second=rng.randint(0, 59))
    n = 0
    while night.timestamp() < START.timestamp() + span - 6000:
        benign += backup_disk_night(rng, night.timestamp(), n)
        night += dt.timedelta(days=1, seconds=rng.randint(-600, 600))
        n += 1

    special = sorted(
        [(t, 0, tag, text) for t, tag, text in incident_lines]
        + [(t, 1, tag, text) for t, tag, text in benign]
    )
    noise_count = args.lines - len(special)
    state = NoiseState(rng)
    funcs = [f for f, _ in NOISE]
    weights = [w for _, w in NOISE]
    picks = rng.choices(range(len(funcs)), weights=weights, k=noise_count)
    out: list[str] = []
    t = START.timestamp()
    gap = args.mean_gap
    expo = rng.expovariate
    si = 0
    for index in picks:
        t += expo(1.0 / gap)
        while si < len(special) and special[si][0] <= t:
            st, _, tag, text = special[si]
            out.append(syslog_line(st, tag, text))
            si += 1
        tag, text = funcs[index](state)
        out.append(syslog_line(t, tag, text))
    for st, _, tag, text in special[si:]:
        out.append(syslog_line(st, tag, text))
    last = max(t, special[-1][0])
    manifest: dict[str, Any] = {
        "seed": args.seed,
        "lines": len(out),
        "relevant_lines": len(incident_lines),
        "benign_storage_lines": len(benign),
        "incidents_expected": args.incidents,
        "alerts_expected": sum(1 for m in manifest_incidents if m["outcome"]),
        "first_time": dt.datetime.fromtimestamp(int(START.timestamp()), dt.UTC).isoformat(),
        "last_time": dt.datetime.fromtimestamp(int(last), dt.UTC).isoformat(),
        "mtime": int(last) + 60,
        "incidents": manifest_incidents,
    }
    relevant_texts = [text for _, _, text in incident_lines]
    return out, manifest, relevant_texts, [text for _, _, text in benign]


def check(data: bytes, relevant_texts: list[str], benign_texts: list[str]) -> dict[str, Any]:
    """What rowatch's prefilter and classifier make of the file (needs rowatch importable)."""
    from rowatch.classify import Classifier

    classifier = Classifier()
    pattern = classifier.prefilter_bytes
    matched_lines: list[bytes] = []
    pos = 0
    while True:
        found = pattern.search(data, pos)
        if found is None:
            break
        start = data.rfind(b"\n", 0, found.start()) + 1
        end = data.find(b"\n", found.start())
        end = len(data) if end < 0 else end
        matched_lines.append(data[start:end])
        pos = end + 1
    relevant = set(relevant_texts)
    benign = set(benign_texts)
    unexpected: list[str] = []
    hits_relevant = hits_benign = 0
    for raw in matched_lines:
        line = raw.decode()
        message = line.split(": ", 1)[1]
        if message.startswith("["):
            message = message.split("] ", 1)[1] if message[1] in " 0123456789" else message
        if message in relevant:
            hits_relevant += 1
        elif message in benign:
            hits_benign += 1
        else:
            unexpected.append(line)
    unclassified = [
        text
        for text in relevant_texts
        if classifier.classify(text, "kernel") is None
        and classifier.classify(text, "multipathd") is None
    ]
    return {
        "prefilter_lines": len(matched_lines),
        "prefilter_relevant": hits_relevant,
        "prefilter_benign": hits_benign,
        "prefilter_unexpected": unexpected[:20],
        "prefilter_unexpected_count": len(unexpected),
        "relevant_unclassified": sorted(set(unclassified))[:40],
        "relevant_unclassified_count": len(unclassified),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--relevant", type=int, default=1000, help="storage-failure lines")
    parser.add_argument("--incidents", type=int, default=40, help="clusters of them")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--mean-gap", type=float, default=0.35, help="seconds between lines")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-check", action="store_true", help="skip the rowatch checks")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    lines, manifest, relevant_texts, benign_texts = build(args)
    data = ("\n".join(lines) + "\n").encode()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    gz_path = args.out.with_name(args.out.name + ".gz")
    with (
        open(gz_path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz,
    ):
        gz.write(data)
    mtime = int(manifest["mtime"])
    for path in (args.out, gz_path):
        os.utime(path, (mtime, mtime))
    manifest["file"] = str(args.out)
    manifest["bytes"] = len(data)
    manifest["gz_bytes"] = gz_path.stat().st_size
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["gz_sha256"] = hashlib.sha256(gz_path.read_bytes()).hexdigest()
    if not args.no_check:
        manifest["check"] = check(data, relevant_texts, benign_texts)
    manifest_path = args.out.with_name(args.out.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(
        f"wrote {args.out} ({len(lines)} lines, {len(data) / 1e6:.1f} MB; .gz "
        f"{manifest['gz_bytes'] / 1e6:.1f} MB) in {time.perf_counter() - began:.1f} s: "
        f"{manifest['relevant_lines']} storage-failure lines in {args.incidents} incidents, "
        f"{manifest['benign_storage_lines']} benign storage lines"
    )
    checked = manifest.get("check")
    if isinstance(checked, dict):
        print(
            f"prefilter matches {checked['prefilter_lines']} lines: {checked['prefilter_relevant']} "
            f"failure, {checked['prefilter_benign']} benign, {checked['prefilter_unexpected_count']} "
            f"unexpected; {checked['relevant_unclassified_count']} failure lines the classifier "
            f"does not recognise"
        )
        if (
            checked["prefilter_unexpected_count"]
            or checked["prefilter_relevant"] != manifest["relevant_lines"]
        ):
            for line in checked["prefilter_unexpected"]:
                print("  unexpected:", line)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
