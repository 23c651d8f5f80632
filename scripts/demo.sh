#!/usr/bin/env bash
# rowatch demo (`sudo make demo`): a filesystem fails for real and rowatch emails about it.
#
#   sudo scripts/demo.sh
#
# 1. makes a 64 MiB ext4 image, attaches it to a loop device and mounts it with
#    errors=remount-ro, the way many servers mount their data;
# 2. starts a local SMTP sink (aiosmtpd) that keeps every mail it receives in a Maildir;
# 3. starts `rowatch run` with that sink as its mail server;
# 4. makes the filesystem fail for real: /sys/fs/ext4/<loop>/trigger_fs_error makes the
#    kernel's ext4 report an error, as it does for on-disk corruption or a failed journal
#    write, and with errors=remount-ro the kernel remounts it read-only;
# 5. shows that writes now fail, the alert email that arrived and `rowatch status`;
# 6. cleans everything up, whatever happens (stops both servers, unmounts, detaches the
#    loop device, removes the temporary directory).
#
# Needs root (loop devices, mounts, /dev/kmsg), Linux with ext4 and loop devices. Missing
# Debian packages (e2fsprogs, python3-aiosmtpd, the runtime libraries) are installed with
# apt-get. rowatch comes from $ROWATCH if set, else this checkout's .venv-debian (made by
# `scripts/dev.sh setup debian` if missing), else `rowatch` on PATH (the installed package).
# Nothing outside the temporary directory is touched: rowatch keeps its state there, and
# ignores what the kernel logged before the demo (source.backlog = false).
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
PY=/usr/bin/python3
WAIT=30  # seconds to wait for each step

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then B=$'\e[1m' G=$'\e[32m' Y=$'\e[33m' R=$'\e[31m' N=$'\e[0m'
else B='' G='' Y='' R='' N=''; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
note() { printf '%s%s%s\n' "$Y" "$*" "$N"; }
die()  { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

((EUID == 0)) || die "run me as root (sudo make demo): I attach a loop device, mount it and read /dev/kmsg"
[[ $(uname -s) == Linux ]] || die "Linux only"

# ------------------------------------------------------------------------------ what we need
need_apt=()
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
command -v losetup >/dev/null || need_apt+=(mount)
"$PY" -c 'import aiosmtpd' 2>/dev/null || need_apt+=(python3-aiosmtpd)
if ((${#need_apt[@]})); then
    command -v apt-get >/dev/null || die "please install: ${need_apt[*]}"
    step "installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [[ -n ${ROWATCH:-} ]]; then
    read -r -a RW <<<"$ROWATCH"
elif [[ -x $ROOT/.venv-debian/bin/rowatch ]]; then
    RW=("$ROOT/.venv-debian/bin/rowatch")
elif command -v rowatch >/dev/null && [[ ! -f $ROOT/pyproject.toml ]]; then
    RW=(rowatch)
else
    step "setting up .venv-debian (scripts/dev.sh setup debian)"
    "$ROOT/scripts/dev.sh" setup debian >/dev/null
    RW=("$ROOT/.venv-debian/bin/rowatch")
fi
"${RW[@]}" --version >/dev/null || die "cannot run ${RW[*]}"

# ------------------------------------------------------------------------------ cleanup
WORK=$(mktemp -d /tmp/rowatch-demo.XXXXXX)
LOOP="" ROWATCH_PID="" SINK_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -z $ROWATCH_PID ]] || { kill -TERM "$ROWATCH_PID" 2>/dev/null; wait "$ROWATCH_PID" 2>/dev/null; }
    [[ -z $SINK_PID ]] || { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }
    if mountpoint -q "$WORK/data" 2>/dev/null; then
        umount "$WORK/data" 2>/dev/null || umount -l "$WORK/data"
    fi
    [[ -z $LOOP ]] || losetup -d "$LOOP" 2>/dev/null
    rm -rf "$WORK"
    printf '\n%scleaned up%s (servers stopped, %s unmounted and detached, %s removed)\n' \
        "$G" "$N" "${LOOP:-no loop device}" "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # what, then a command that succeeds when ready
    local what="$1" i; shift
    for ((i = 0; i < WAIT * 5; i++)); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    die "gave up waiting for $what after ${WAIT}s (logs in $WORK)"
}

# ------------------------------------------------------------------------------ 1. filesystem
step "1. a loop-backed ext4, mounted with errors=remount-ro"
mkdir -p "$WORK/data" "$WORK/state" "$WORK/run"
truncate -s 64M "$WORK/disk.img"
mkfs.ext4 -q -F -L rowatch-demo "$WORK/disk.img"
LOOP=$(losetup --find --show "$WORK/disk.img")
DEV=${LOOP#/dev/}
mount -o errors=remount-ro "$LOOP" "$WORK/data"
echo "important data" >"$WORK/data/file.txt"
findmnt -no SOURCE,TARGET,FSTYPE,OPTIONS "$WORK/data"

# ------------------------------------------------------------------------------ 2. mail sink
step "2. a local SMTP sink on 127.0.0.1 (aiosmtpd), keeping mail in $WORK/Maildir"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m aiosmtpd -n -c aiosmtpd.handlers.Mailbox "$WORK/Maildir" -l "127.0.0.1:$PORT" \
    >"$WORK/smtp.log" 2>&1 &
SINK_PID=$!
wait_for "the SMTP sink" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()"
echo "listening on 127.0.0.1:$PORT"

# ------------------------------------------------------------------------------ 3. rowatch
step "3. rowatch run"
cat >"$WORK/rowatch.toml" <<EOF
# The demo's configuration: everything stays in $WORK.
[source]
backlog = false          # only what happens from now on

[reconciler]
interval = "5s"
ignore_mountpoints = []

[state]
directory = "$WORK/state"
runtime_directory = "$WORK/run"

[log]
format = "console"
EOF
run_args=(run --config "$WORK/rowatch.toml"
          --smtp "smtp://127.0.0.1:$PORT" --mail-to ops@example.test --mail-from rowatch@example.test)
MAIL=1
echo "${RW[*]} ${run_args[*]}"
NO_COLOR=1 "${RW[@]}" "${run_args[@]}" >"$WORK/rowatch.log" 2>&1 &
ROWATCH_PID=$!
running() {
    kill -0 "$ROWATCH_PID" 2>/dev/null || { cat "$WORK/rowatch.log" >&2; die "rowatch run exited"; }
    "${RW[@]}" status --config "$WORK/rowatch.toml" >/dev/null 2>&1 || [[ $? == 1 ]]
}
wait_for "rowatch to start" running
"${RW[@]}" status --config "$WORK/rowatch.toml" | head -3 || true

# ------------------------------------------------------------------------------ 4. failure
step "4. the filesystem fails: echo 1 > /sys/fs/ext4/$DEV/trigger_fs_error"
[[ -w /sys/fs/ext4/$DEV/trigger_fs_error ]] \
    || die "/sys/fs/ext4/$DEV/trigger_fs_error is missing: this kernel's ext4 cannot inject errors"
seen=$(dmesg 2>/dev/null | wc -l || echo 0)
echo 1 >"/sys/fs/ext4/$DEV/trigger_fs_error"
sleep 0.5
echo "the kernel says:"
dmesg 2>/dev/null | tail -n +"$((seen + 1))" | grep -F "$DEV" | sed 's/^/    /' || true
if { echo "more data" >>"$WORK/data/file.txt"; } 2>"$WORK/write.err"; then
    note "the write still succeeded (the kernel did not stop writes yet)"
else
    printf 'writing to %s now fails: %s\n' "$WORK/data/file.txt" "$(sed 's/^.*: //' "$WORK/write.err")"
fi

# ------------------------------------------------------------------------------ 5. the alert
if ((MAIL)); then
    step "5. the alert email that arrived"
    wait_for "the alert email" compgen -G "$WORK/Maildir/new/*" >/dev/null || { grep -E "alert_|smtp|error" "$WORK/rowatch.log" | tail -5 >&2; exit 1; }
    sleep 1  # more than one mail may come (the warning, then read-only)
    "$PY" - "$WORK/Maildir" <<'EOF'
import mailbox, sys
for message in mailbox.Maildir(sys.argv[1], create=False):
    print("-" * 72)
    for header in ("From", "To", "Subject", "Date"):
        print(f"{header}: {message[header]}")
    print()
    body = message.get_body(("plain",)) if hasattr(message, "get_body") else None
    part = body or next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
    print(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace").rstrip())
print("-" * 72)
EOF
else
    step "5. the alert, from rowatch's log"
    wait_for "the read-only incident" grep -q "read-only" "$WORK/rowatch.log"
    sleep 1
    grep -E "incident_|alert_" "$WORK/rowatch.log" | cut -c1-200
fi

step "rowatch status"
"${RW[@]}" status --config "$WORK/rowatch.toml" || true

printf '\n%sdone:%s the kernel remounted %s read-only and rowatch said so, and why.\n' \
    "$G" "$N" "$WORK/data"
