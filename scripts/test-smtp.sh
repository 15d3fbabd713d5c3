#!/usr/bin/env bash
# A real SMTP server on 127.0.0.1 for the notification tests: Debian's exim4 (daemon-light)
# with its own configuration under $PMT_SMTP_BASE, listening on $PMT_SMTP_PORT and
# delivering every message for @pmtwatch.test to one mailbox file (mbox) the tests read.
# Mail for any other domain is refused (550 relay not permitted), which the tests use as
# "an SMTP server that refuses". No TLS (the tests use security = "none" against it).
#
#   scripts/test-smtp.sh start    prints `export PMT_SMTP_…=…` lines for eval
#   scripts/test-smtp.sh stop
#   scripts/test-smtp.sh status
#
# Needs root (exim delivers as `nobody`) and the package exim4-daemon-light (installed
# here when missing and apt-get is available).
set -euo pipefail

BASE=${PMT_SMTP_BASE:-/tmp/pmtwatch-smtp}
PORT=${PMT_SMTP_PORT:-2525}
CONF=$BASE/exim.conf
PID=$BASE/exim.pid
MAILBOX=$BASE/mail/mailbox
TRUSTED=/etc/exim4/trusted_configs

die() { echo "test-smtp: $*" >&2; exit 1; }

exim_bin() { command -v exim4 || command -v exim || true; }

install() {
  [[ -n $(exim_bin) ]] && return 0
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
    die "exim4 missing: sudo apt-get install --no-install-recommends exim4-daemon-light"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends exim4-daemon-light >&2 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends exim4-daemon-light >&2; }
}

running() { [[ -f $PID ]] && kill -0 "$(cat "$PID")" 2>/dev/null; }

print_env() {
  echo "export PMT_SMTP_HOST=127.0.0.1"
  echo "export PMT_SMTP_PORT=$PORT"
  echo "export PMT_SMTP_MAILBOX=$MAILBOX"
}

start() {
  [[ $(id -u) == 0 ]] || die "run as root (exim switches to nobody to deliver)"
  install
  if running; then print_env; return 0; fi
  mkdir -p "$BASE/spool" "$BASE/log" "$BASE/mail"
  chmod 0777 "$BASE/mail"
  : >"$MAILBOX"
  chmod 0666 "$MAILBOX"
  chown nobody:nogroup "$MAILBOX"
  # exim runs as its own user (Debian-exim) except to deliver.
  local eu
  eu=$(id -un Debian-exim 2>/dev/null || id -un exim 2>/dev/null || echo root)
  chown -R "$eu" "$BASE/spool" "$BASE/log"
  cat >"$CONF" <<CONF
primary_hostname = pmtwatch.test
domainlist local_domains = pmtwatch.test
daemon_smtp_ports = $PORT
local_interfaces = 127.0.0.1
spool_directory = $BASE/spool
log_file_path = $BASE/log/%slog
pid_file_path = $PID
tls_advertise_hosts =
keep_environment =
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
queue_only = false
begin acl
acl_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted
acl_data:
  accept
begin routers
local_mailbox:
  driver = accept
  domains = +local_domains
  transport = mailbox
begin transports
mailbox:
  driver = appendfile
  file = $MAILBOX
  user = nobody
  group = nogroup
  mode = 0666
  delivery_date_add
  envelope_to_add
  return_path_add
CONF
  # exim keeps root privilege (needed to deliver as nobody) only for a -C file it trusts.
  mkdir -p "$(dirname "$TRUSTED")"
  grep -qxF "$CONF" "$TRUSTED" 2>/dev/null || echo "$CONF" >>"$TRUSTED"
  "$(exim_bin)" -C "$CONF" -bd -q10s
  for _ in $(seq 50); do
    running && break
    sleep 0.1
  done
  running || die "exim did not start; see $BASE/log/paniclog and mainlog"
  print_env
}

stop() {
  if running; then kill "$(cat "$PID")"; fi
  rm -f "$PID"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) running && print_env ;;
  *) die "usage: $0 start|stop|status" ;;
esac
