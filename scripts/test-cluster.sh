#!/usr/bin/env bash
# scripts/test-cluster.sh — a real OpenSSH server and a real single-node SLURM cluster on
# 127.0.0.1 for the integration tests of the remote (ssh / slurm) backends.
#
#   scripts/test-cluster.sh start           install what is missing (Debian 12 packages), then
#                                           configure and start, idempotently:
#                                             * sshd on 127.0.0.1:$PMT_SSH_PORT (own config and
#                                               host key, key-only login for $PMT_SSH_USER),
#                                             * munged, slurmctld and slurmd (one node, loopback),
#                                             * with PMT_ACCOUNTING=1 also MariaDB + slurmdbd;
#                                           checks a key login and a job submitted over ssh, and
#                                           prints `export NAME=value` lines on stdout (also saved
#                                           in $PMT_BASE/env); progress goes to stderr.
#                                             eval "$(sudo scripts/test-cluster.sh start)"
#   scripts/test-cluster.sh stop [--purge]  stop exactly the daemons `start` started (the PIDs
#                                           recorded in $PMT_BASE/pids, each checked against its
#                                           expected command line; never by name). Safe when
#                                           nothing runs. --purge also deletes $PMT_BASE and the
#                                           /etc/hosts line `start` may have added.
#   scripts/test-cluster.sh status          what runs (exit 0: everything up, 3: not)
#   scripts/test-cluster.sh env             print the export lines of the last successful start
#
# Run as root. Every wait is bounded by $PMT_TIMEOUT seconds; a failure names the daemon and
# its log file. Packages and the test user stay installed after `stop`.
#
# Environment (defaults in brackets):
#   PMT_BASE         state, keys, configs, logs, pid files [${TMPDIR:-/tmp}/pmtwatch-test-cluster]
#   PMT_SSH_PORT     sshd port on 127.0.0.1 [2222]
#   PMT_SSH_USER     unprivileged test user, created if missing [pmtops]
#   PMT_KEY_OWNER    local user that owns (reads) the client key [$SUDO_USER or root]
#   PMT_SLURMCTLD_PORT, PMT_SLURMD_PORT, PMT_SLURMDBD_PORT, PMT_DB_PORT [6817, 6818, 6819, 3307]
#   PMT_CPUS         CPUs of the slurm node [nproc]
#   PMT_MIN_JOB_AGE  seconds finished jobs stay visible to squeue/scontrol [300]
#   PMT_ACCOUNTING   1 = also MariaDB + slurmdbd, so that sacct works [0]
#   PMT_SMOKE_TEST   1 = submit one job over ssh and wait for it to complete [1]
#   PMT_TIMEOUT      seconds to wait for each daemon / the smoke job [60]
#   PMT_INSTALL_TIMEOUT  seconds allowed for apt-get [900]
set -euo pipefail

PMT_BASE=${PMT_BASE:-${TMPDIR:-/tmp}/pmtwatch-test-cluster}
PMT_SSH_PORT=${PMT_SSH_PORT:-2222}
PMT_SSH_USER=${PMT_SSH_USER:-pmtops}
PMT_KEY_OWNER=${PMT_KEY_OWNER:-${SUDO_USER:-root}}
PMT_SLURMCTLD_PORT=${PMT_SLURMCTLD_PORT:-6817}
PMT_SLURMD_PORT=${PMT_SLURMD_PORT:-6818}
PMT_SLURMDBD_PORT=${PMT_SLURMDBD_PORT:-6819}
PMT_DB_PORT=${PMT_DB_PORT:-3307}
PMT_CPUS=${PMT_CPUS:-$(nproc)}
PMT_MIN_JOB_AGE=${PMT_MIN_JOB_AGE:-300}
PMT_ACCOUNTING=${PMT_ACCOUNTING:-0}
PMT_SMOKE_TEST=${PMT_SMOKE_TEST:-1}
PMT_TIMEOUT=${PMT_TIMEOUT:-60}
PMT_INSTALL_TIMEOUT=${PMT_INSTALL_TIMEOUT:-900}

SSH_DIR=$PMT_BASE/ssh
SL=$PMT_BASE/slurm
DB=$PMT_BASE/mysql
PIDS=$PMT_BASE/pids
LOGS=$PMT_BASE/logs
REMOTE_BIN=$PMT_BASE/bin  # where tests deploy the pmtwatch binary (on the remote PATH)
ENV_FILE=$PMT_BASE/env
SLURM_CONF_FILE=$SL/slurm.conf
export SLURM_CONF=$SLURM_CONF_FILE
export DEBIAN_FRONTEND=noninteractive
HOSTS_MARK='# pmtwatch-test-cluster'

# Daemons we may start: the command-line fragment that identifies each one (checked before
# a recorded PID is trusted or signalled) and the log file to point at when it fails.
declare -A EXPECT=(
  [sshd]="sshd -f $SSH_DIR/sshd_config"
  [munged]="/usr/sbin/munged"
  [mariadbd]="mariadbd --defaults-file=$DB/my.cnf"
  [slurmdbd]="/usr/sbin/slurmdbd"
  [slurmctld]="slurmctld -f $SLURM_CONF_FILE"
  [slurmd]="slurmd -f $SLURM_CONF_FILE"
)
declare -A LOGFILE=(
  [sshd]=$LOGS/sshd.log
  [munged]=/var/log/munge/munged.log
  [mariadbd]=$DB/mariadbd.log
  [slurmdbd]=$LOGS/slurmdbd.log
  [slurmctld]=$LOGS/slurmctld.log
  [slurmd]=$LOGS/slurmd.log
)
STOP_ORDER=(slurmd slurmctld slurmdbd mariadbd munged sshd)

T_START=$EPOCHREALTIME
exec 9>&2 # log fd: stays visible inside the >/dev/null redirections of wait_for
elapsed() {
  local a=${1//[.,]/} b=${EPOCHREALTIME//[.,]/}
  printf '%d.%02d' $(((b - a) / 1000000)) $((((b - a) % 1000000) / 10000))
}
log() { printf '[test-cluster %ss] %s\n' "$(elapsed "$T_START")" "$*" >&9; }
die() { log "ERROR: $*"; exit 1; }

# show_logs NAME : the last lines of NAME's startup output and log file, on the log fd
show_logs() {
  local f
  for f in "$LOGS/$1.out" "${LOGFILE[$1]:-}"; do
    [[ -n $f && -s $f ]] || continue
    log "--- last lines of $f:"
    tail -n 15 "$f" >&9 || true
  done
}

# fail NAME MESSAGE : die with MESSAGE, naming NAME's log files and showing their tails
fail() {
  show_logs "$1"
  die "$2 (see ${LOGFILE[$1]:-} and $LOGS/$1.out)"
}

# wait_for NAME DESCRIPTION COMMAND... : retry COMMAND every 0.1s until it succeeds, at
# most PMT_TIMEOUT seconds; on time-out fail with NAME's logs.
wait_for() {
  local name=$1 what=$2 t0=$EPOCHREALTIME deadline=$((SECONDS + PMT_TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$name" "timed out after ${PMT_TIMEOUT}s waiting for $what"
    sleep 0.1
  done
  log "$what: ready after $(elapsed "$t0")s"
}

# pid_of NAME : print NAME's recorded PID if it is alive (not a zombie) and runs EXPECT[NAME]
pid_of() {
  local f=$PIDS/$1.pid pid cmd
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"${EXPECT[$1]}"* ]] || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}
running() { pid_of "$1" >/dev/null; }

# record NAME PIDFILE : wait for a daemon's own pid file, then copy it into $PIDS
record() {
  local deadline=$((SECONDS + PMT_TIMEOUT))
  until [[ -s $2 ]] && kill -0 "$(<"$2")" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$1" "$1 did not write its pid file $2 within ${PMT_TIMEOUT}s"
    sleep 0.05
  done
  cp "$2" "$PIDS/$1.pid"
  log "started $1 (pid $(<"$PIDS/$1.pid"))"
}

# spawn [--bg] NAME CMD... : start CMD with stdin from /dev/null, stdout+stderr appended to
# $LOGS/NAME.out and every other inherited fd closed. Daemons that do not close inherited fds
# (munged, mariadbd, slurmdbd) would otherwise keep the caller's pipe open, so that
# `eval "$(test-cluster.sh start)"` or `... | tee` never sees EOF and hangs (they would also
# hold our lock fd). --bg is for daemons that do not fork themselves: CMD is started in the
# background from the fd-clean subshell, which then exits.
spawn() {
  local bg=0
  if [[ $1 == --bg ]]; then
    bg=1
    shift
  fi
  local name=$1
  shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-"; fi
    done 2>/dev/null
    if ((bg)); then
      "$@" </dev/null >>"$LOGS/$name.out" 2>&1 &
    else
      exec "$@" </dev/null >>"$LOGS/$name.out" 2>&1
    fi
  ) || fail "$name" "$name failed to start"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# lock : serialise concurrent start/stop runs on the same $PMT_BASE (bounded wait)
lock() {
  mkdir -p "$PMT_BASE"
  exec 8>"$PMT_BASE/lock"
  flock -w "$PMT_INSTALL_TIMEOUT" 8 || die "another test-cluster.sh holds $PMT_BASE/lock"
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

SSH_OPTS=(-F /dev/null -p "$PMT_SSH_PORT" -i "$SSH_DIR/id_ed25519" -o IdentitiesOnly=yes
  -o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$SSH_DIR/known_hosts"
  -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5)
ssh_test() { timeout 20 ssh "${SSH_OPTS[@]}" "$PMT_SSH_USER@127.0.0.1" "$@"; }

# ================================================================ start
install_packages() {
  local pkgs=(openssh-server openssh-client rsync munge slurmctld slurmd slurm-client)
  ((PMT_ACCOUNTING)) && pkgs+=(slurmdbd mariadb-server)
  local missing=() p
  for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    local t0=$EPOCHREALTIME
    # Never let package postinst scripts start daemons (sshd on 0.0.0.0:22, munged, ...):
    # a policy-rc.d that exits 101 forbids it. Ours is temporary; an existing one is kept.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\n# temporary, scripts/test-cluster.sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    log "installing: ${missing[*]}"
    timeout "$PMT_INSTALL_TIMEOUT" apt-get update -qq ||
      die "apt-get update failed or took more than ${PMT_INSTALL_TIMEOUT}s"
    timeout "$PMT_INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
      die "apt-get install ${missing[*]} failed or took more than ${PMT_INSTALL_TIMEOUT}s"
    if [[ $(trap -p EXIT) == *policy-rc.d* ]]; then
      rm -f /usr/sbin/policy-rc.d
      trap - EXIT
    fi
    log "packages installed in $(elapsed "$t0")s"
  fi
  local b
  for b in /usr/sbin/sshd /usr/bin/ssh /usr/bin/rsync /usr/sbin/munged /usr/sbin/slurmctld \
    /usr/sbin/slurmd /usr/bin/sbatch; do
    [[ -x $b ]] || die "$b missing after install"
  done
}

# CommunicationParameters=NoInAddrAny/NoCtldInAddrAny make the slurm daemons bind to the
# address the host name resolves to instead of 0.0.0.0; it must be a loopback address.
ensure_hostname_loopback() {
  HOST_FULL=$(hostname)
  HOST_SHORT=$(hostname -s)
  local resolved hosts
  resolved=$(getent ahostsv4 "$HOST_FULL" | awk 'NR==1{print $1}' || true)
  if [[ $resolved != 127.* ]]; then
    log "host name $HOST_FULL resolves to '${resolved:-nothing}': prepending a 127.0.0.1 line to /etc/hosts"
    # rewrite in place: Docker bind-mounts /etc/hosts, so no rename (sed -i) is possible
    hosts=$(cat /etc/hosts)
    printf '127.0.0.1 %s %s %s\n%s\n' "$HOST_FULL" "$HOST_SHORT" "$HOSTS_MARK" "$hosts" >/etc/hosts
    resolved=$(getent ahostsv4 "$HOST_FULL" | awk 'NR==1{print $1}' || true)
    [[ $resolved == 127.* ]] || die "could not make $HOST_FULL resolve to a loopback address"
  fi
}

ensure_user() {
  if ! getent passwd "$PMT_SSH_USER" >/dev/null; then
    useradd --create-home --shell /bin/bash "$PMT_SSH_USER"
    log "created user $PMT_SSH_USER"
  fi
  # useradd leaves the password '!' (locked); with UsePAM=no sshd refuses locked accounts
  # even for key logins. '*' matches no password but is not "locked".
  [[ $(getent shadow "$PMT_SSH_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$PMT_SSH_USER"
  USER_HOME=$(getent passwd "$PMT_SSH_USER" | cut -d: -f6)
  USER_GROUP=$(id -gn "$PMT_SSH_USER")
}

# write_if_changed FILE : replace FILE by stdin; status 0 if the content changed
write_if_changed() {
  cat >"$1.new"
  if [[ -f $1 ]] && cmp -s "$1" "$1.new"; then
    rm -f "$1.new"
    return 1
  fi
  mv "$1.new" "$1"
}

start_sshd() {
  [[ -f $SSH_DIR/ssh_host_ed25519_key ]] ||
    ssh-keygen -q -t ed25519 -N '' -C pmtwatch-test-host -f "$SSH_DIR/ssh_host_ed25519_key"
  [[ -f $SSH_DIR/id_ed25519 ]] ||
    ssh-keygen -q -t ed25519 -N '' -C "$PMT_SSH_USER-test-client" -f "$SSH_DIR/id_ed25519"
  chown "$PMT_KEY_OWNER" "$SSH_DIR/id_ed25519" "$SSH_DIR/id_ed25519.pub"
  chmod 600 "$SSH_DIR/id_ed25519"
  install -d -m 700 -o "$PMT_SSH_USER" -g "$USER_GROUP" "$USER_HOME/.ssh"
  install -m 600 -o "$PMT_SSH_USER" -g "$USER_GROUP" "$SSH_DIR/id_ed25519.pub" "$USER_HOME/.ssh/authorized_keys"
  HOST_KEY=$(cut -d' ' -f1,2 "$SSH_DIR/ssh_host_ed25519_key.pub")
  printf '[127.0.0.1]:%s %s\n[localhost]:%s %s\n' "$PMT_SSH_PORT" "$HOST_KEY" "$PMT_SSH_PORT" "$HOST_KEY" \
    >"$SSH_DIR/known_hosts"
  chmod 644 "$SSH_DIR/known_hosts"
  local changed=0
  write_if_changed "$SSH_DIR/sshd_config" <<EOF && changed=1
# generated by scripts/test-cluster.sh
ListenAddress 127.0.0.1
Port $PMT_SSH_PORT
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $PMT_SSH_USER
UsePAM no
StrictModes yes
X11Forwarding no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
# parallel tests open many connections / multiplexed sessions
MaxStartups 100:30:200
MaxSessions 64
Subsystem sftp internal-sftp
# slurm commands run over ssh find the test cluster's configuration through this; the
# tests deploy the pmtwatch binary into $REMOTE_BIN, first on the remote PATH
SetEnv SLURM_CONF=$SLURM_CONF_FILE PATH=$REMOTE_BIN:/usr/local/bin:/usr/bin:/bin
EOF
  install -d -m 755 /run/sshd # privilege separation directory (also needed by sshd -t)
  install -d -m 755 "$REMOTE_BIN"
  /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "invalid $SSH_DIR/sshd_config"
  if running sshd; then
    if ((changed)); then
      kill -HUP "$(pid_of sshd)" # re-exec with the new configuration
      log "sshd already running (pid $(pid_of sshd)), configuration changed: reloaded"
    else
      log "sshd already running (pid $(pid_of sshd))"
    fi
  else
    tcp_open "$PMT_SSH_PORT" && die "127.0.0.1:$PMT_SSH_PORT is already in use by another program (set PMT_SSH_PORT)"
    rm -f "$SSH_DIR/sshd.pid"
    spawn sshd /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$LOGS/sshd.log" # absolute path required
    record sshd "$SSH_DIR/sshd.pid"
  fi
  # (ssh runs as root here, so it can read the key whoever PMT_KEY_OWNER is)
  wait_for sshd "sshd (key login as $PMT_SSH_USER on 127.0.0.1:$PMT_SSH_PORT)" ssh_test true
}

start_munged() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 600 /etc/munge/munge.key
  if running munged; then
    log "munged already running (pid $(pid_of munged))"
  elif timeout 10 sh -c 'munge -n | unmunge' >/dev/null 2>&1; then
    log "a munged not started by this script answers on the default socket: using it"
  else
    install -d -m 755 -o munge -g munge /run/munge
    rm -f /run/munge/munged.pid
    spawn munged runuser -u munge -- /usr/sbin/munged
    record munged /run/munge/munged.pid
  fi
  wait_for munged munged timeout 10 sh -c 'munge -n | unmunge'
}

start_accounting() {
  mkdir -p "$DB"
  chown mysql:mysql "$DB"
  cat >"$DB/my.cnf" <<EOF
[mysqld]
datadir=$DB/data
socket=$DB/mysqld.sock
pid-file=$DB/mysqld.pid
log-error=$DB/mariadbd.log
bind-address=127.0.0.1
port=$PMT_DB_PORT
skip-name-resolve
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
[client]
socket=$DB/mysqld.sock
EOF
  if [[ ! -d $DB/data/mysql ]]; then
    local t0=$EPOCHREALTIME
    install -d -o mysql -g mysql "$DB/data"
    timeout "$PMT_INSTALL_TIMEOUT" mariadb-install-db --defaults-file="$DB/my.cnf" --user=mysql \
      --skip-test-db --auth-root-authentication-method=socket >"$LOGS/mariadb-install-db.out" 2>&1 ||
      fail mariadbd "mariadb-install-db failed (see $LOGS/mariadb-install-db.out)"
    log "MariaDB data directory initialised in $(elapsed "$t0")s"
  fi
  if running mariadbd; then
    log "mariadbd already running (pid $(pid_of mariadbd))"
  else
    tcp_open "$PMT_DB_PORT" && die "127.0.0.1:$PMT_DB_PORT is already in use by another program (set PMT_DB_PORT)"
    rm -f "$DB/mysqld.pid"
    spawn --bg mariadbd setsid /usr/sbin/mariadbd --defaults-file="$DB/my.cnf" --user=mysql
    record mariadbd "$DB/mysqld.pid"
  fi
  wait_for mariadbd mariadbd timeout 10 mariadb --defaults-file="$DB/my.cnf" -e 'SELECT 1'
  if [[ ! -s $DB/slurm.pw ]]; then
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DB/slurm.pw"
    chmod 600 "$DB/slurm.pw"
  fi
  local pw
  pw=$(<"$DB/slurm.pw")
  timeout 30 mariadb --defaults-file="$DB/my.cnf" <<EOF || fail mariadbd "could not create the slurm database user"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
  # slurmdbd reads slurmdbd.conf next to $SLURM_CONF; it must be mode 0600, owned by SlurmUser
  cat >"$SL/slurmdbd.conf" <<EOF
# generated by scripts/test-cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$PMT_SLURMDBD_PORT
# without this slurmdbd listens on 0.0.0.0
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
LogFile=$LOGS/slurmdbd.log
PidFile=$SL/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$PMT_DB_PORT
StorageUser=slurm
StoragePass=$pw
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm "$SL/slurmdbd.conf"
  chmod 600 "$SL/slurmdbd.conf"
  if running slurmdbd; then
    log "slurmdbd already running (pid $(pid_of slurmdbd))"
  else
    rm -f "$SL/slurmdbd.pid"
    spawn slurmdbd /usr/sbin/slurmdbd
    record slurmdbd "$SL/slurmdbd.pid"
  fi
  wait_for slurmdbd "slurmdbd (127.0.0.1:$PMT_SLURMDBD_PORT)" tcp_open "$PMT_SLURMDBD_PORT"
}

write_slurm_conf() {
  local acct
  if ((PMT_ACCOUNTING)); then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$PMT_SLURMDBD_PORT
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi
  SLURM_CONF_CHANGED=0
  write_if_changed "$SLURM_CONF_FILE" <<EOF && SLURM_CONF_CHANGED=1
# generated by scripts/test-cluster.sh - one node, loopback only, no systemd, no cgroups
ClusterName=pmtest
SlurmctldHost=$HOST_SHORT(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=$PMT_SLURMCTLD_PORT
SlurmdPort=$PMT_SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
# bind to the address the host name resolves to (loopback), never to 0.0.0.0
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
# the default batch_sched_delay=3 makes sbatch -> job start take up to 3 s
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=$PMT_MIN_JOB_AGE
KillWait=5
InactiveLimit=0
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.txt
$acct
NodeName=$HOST_SHORT NodeAddr=127.0.0.1 CPUs=$PMT_CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 644 "$SLURM_CONF_FILE"
}

node_ready() {
  local st
  st=$(timeout 10 sinfo -h -n "$HOST_SHORT" -o %t 2>/dev/null) || return 1
  case $st in
    idle | mix | alloc) return 0 ;;
    down* | drain* | drng*)
      timeout 10 scontrol update NodeName="$HOST_SHORT" State=RESUME >/dev/null 2>&1
      return 1
      ;;
    *) return 1 ;;
  esac
}

start_slurm() {
  local name pid
  if ((SLURM_CONF_CHANGED)); then
    # plugin changes (accounting on/off, ports) are not applied by `scontrol reconfigure`
    for name in slurmd slurmctld; do
      if pid=$(pid_of "$name"); then
        log "slurm.conf changed: restarting $name"
        stop_pid "$name" "$pid"
        rm -f "$PIDS/$name.pid"
      fi
    done
  fi
  if running slurmctld && running slurmd; then
    log "slurmctld (pid $(pid_of slurmctld)) and slurmd (pid $(pid_of slurmd)) already running"
  else
    if ! running slurmctld; then
      tcp_open "$PMT_SLURMCTLD_PORT" && die "port $PMT_SLURMCTLD_PORT is already in use (set PMT_SLURMCTLD_PORT)"
      rm -f "$SL/slurmctld.pid"
      spawn slurmctld /usr/sbin/slurmctld -f "$SLURM_CONF_FILE"
      record slurmctld "$SL/slurmctld.pid"
    fi
    wait_for slurmctld slurmctld sh -c 'timeout 10 scontrol ping | grep -q "is UP"'
    if ! running slurmd; then
      tcp_open "$PMT_SLURMD_PORT" && die "port $PMT_SLURMD_PORT is already in use (set PMT_SLURMD_PORT)"
      rm -f "$SL/slurmd.pid"
      spawn slurmd /usr/sbin/slurmd -f "$SLURM_CONF_FILE" -N "$HOST_SHORT"
      record slurmd "$SL/slurmd.pid"
    fi
  fi
  wait_for slurmd "slurm node $HOST_SHORT (idle)" node_ready
}

smoke_job_done() {
  local st
  st=$(timeout 10 scontrol show job "$SMOKE_JOB" 2>/dev/null | grep -o 'JobState=[A-Z_]*') || return 1
  case $st in
    JobState=COMPLETED) return 0 ;;
    JobState=PENDING | JobState=CONFIGURING | JobState=RUNNING | JobState=COMPLETING) return 1 ;;
    *)
      log "smoke job $SMOKE_JOB ended in $st:"
      timeout 10 scontrol show job "$SMOKE_JOB" >&9 || true
      fail slurmd "smoke job $SMOKE_JOB failed"
      ;;
  esac
}

smoke_test() {
  SMOKE_JOB=$(ssh_test "sbatch --parsable -J pmt-smoke -o /dev/null --wrap true") ||
    fail slurmctld "sbatch over ssh as $PMT_SSH_USER failed"
  SMOKE_JOB=${SMOKE_JOB%%;*}
  wait_for slurmd "smoke job $SMOKE_JOB (sbatch over ssh -> COMPLETED)" smoke_job_done
}

write_env() {
  cat >"$ENV_FILE.new" <<EOF
export PMT_SSH_HOST=127.0.0.1
export PMT_SSH_PORT=$PMT_SSH_PORT
export PMT_SSH_USER=$PMT_SSH_USER
export PMT_SSH_KEY=$SSH_DIR/id_ed25519
export PMT_SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts
export PMT_SSH_HOST_KEY='$HOST_KEY'
export PMT_REMOTE_HOME=$USER_HOME
export PMT_SLURM_CONF=$SLURM_CONF_FILE
export PMT_SLURM_PARTITION=debug
export PMT_SLURM_NODE=$HOST_SHORT
export PMT_SLURM_CPUS=$PMT_CPUS
export PMT_SLURM_ACCOUNTING=$PMT_ACCOUNTING
export PMT_BASE=$PMT_BASE
export PMT_REMOTE_BIN=$REMOTE_BIN
EOF
  chmod 644 "$ENV_FILE.new"
  mv "$ENV_FILE.new" "$ENV_FILE"
}

cmd_start() {
  need_root
  [[ -r /etc/debian_version ]] || die "Debian required"
  [[ $PMT_BASE == /* && $PMT_BASE != *[[:space:]]* ]] || die "PMT_BASE must be an absolute path without blanks"
  # stdout carries only the export lines: everything else goes to stderr
  exec 3>&1 1>&2
  lock
  install_packages
  ensure_hostname_loopback
  ensure_user
  rm -f "$ENV_FILE" # present again only once this start has succeeded
  mkdir -p "$PIDS" "$LOGS" "$SSH_DIR" "$SL/state" "$SL/spool"
  chmod 755 "$PMT_BASE" "$SSH_DIR" "$SL" "$LOGS"
  chown slurm:slurm "$SL/state" "$LOGS" # slurmctld / slurmdbd run as SlurmUser=slurm
  local name
  for name in "${STOP_ORDER[@]}"; do # forget records of daemons that are gone
    running "$name" || rm -f "$PIDS/$name.pid"
  done
  start_sshd
  start_munged
  write_slurm_conf
  ((PMT_ACCOUNTING)) && start_accounting
  start_slurm
  ((PMT_SMOKE_TEST)) && smoke_test
  write_env
  cat "$ENV_FILE" >&3
  log "test cluster up in $(elapsed "$T_START")s; try: ssh -F /dev/null -p $PMT_SSH_PORT -i $SSH_DIR/id_ed25519" \
    "-o UserKnownHostsFile=$SSH_DIR/known_hosts $PMT_SSH_USER@127.0.0.1 sinfo"
}

# ================================================================ stop
# stop_pid NAME PID : TERM, wait up to 20 s, then KILL
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
    sleep 0.1
  done
  if [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
    log "$name (pid $pid) ignored SIGTERM for 20s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "stopped $name (pid $pid)"
}

children_of() {
  local f
  for f in /proc/[0-9]*/stat; do
    awk -v p="$1" '$4 == p {print $1}' "$f" 2>/dev/null || true
  done
}

cmd_stop() {
  need_root
  local purge=0 name pid jobs i c f cmd
  [[ ${1:-} == --purge ]] && purge=1
  [[ -d $PMT_BASE ]] || { log "nothing to stop ($PMT_BASE does not exist)"; return 0; }
  lock
  # 1. cancel all jobs while slurmctld/slurmd still run, so no slurmstepd is left behind
  if running slurmctld; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ') || true
    if [[ -n ${jobs// /} ]]; then
      log "cancelling jobs: $jobs"
      # shellcheck disable=SC2086 # one argument per job id
      timeout 10 scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 150; i++)); do
        [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null) ]] && break
        sleep 0.1
      done
    fi
  fi
  # 2. daemons in reverse dependency order
  for name in "${STOP_ORDER[@]}"; do
    if pid=$(pid_of "$name"); then
      if [[ $name == sshd ]]; then # close sessions still connected (e.g. ControlMaster)
        for c in $(children_of "$pid"); do
          [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$c/cmdline") == sshd:* ]] && kill -TERM "$c" 2>/dev/null
        done
      fi
      stop_pid "$name" "$pid"
    elif [[ -e $PIDS/$name.pid ]]; then
      log "$name: recorded pid $(<"$PIDS/$name.pid") is not running (or is not ours): skipped"
    fi
    rm -f "$PIDS/$name.pid"
  done
  # 3. report (never kill) leftover job step daemons
  for f in /proc/[0-9]*/cmdline; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    if [[ $cmd == slurmstepd:* ]]; then
      f=${f#/proc/}
      log "WARNING: leftover ${cmd% } (pid ${f%/cmdline})"
    fi
  done
  if ((purge)); then
    rm -rf "$PMT_BASE"
    if grep -qF "$HOSTS_MARK" /etc/hosts; then
      local hosts
      hosts=$(grep -vF "$HOSTS_MARK" /etc/hosts)
      printf '%s\n' "$hosts" >/etc/hosts # in place: /etc/hosts may be a bind mount
    fi
    log "purged $PMT_BASE"
  fi
  log "stopped in $(elapsed "$T_START")s"
}

# ================================================================ status, env
cmd_status() {
  local name pid all=1 ping
  local names=(sshd munged slurmctld slurmd)
  if ((PMT_ACCOUNTING)) || [[ -e $PIDS/mariadbd.pid || -e $PIDS/slurmdbd.pid ]]; then
    names=(sshd munged mariadbd slurmdbd slurmctld slurmd)
  fi
  echo "base: $PMT_BASE"
  for name in "${names[@]}"; do
    if pid=$(pid_of "$name"); then
      echo "$name: running (pid $pid)"
    elif [[ $name == munged ]] && timeout 10 sh -c 'munge -n | unmunge' >/dev/null 2>&1; then
      echo "munged: running (not started by this script)"
    else
      echo "$name: not running"
      all=0
    fi
  done
  if running sshd; then
    if ssh_test true >/dev/null 2>&1; then
      echo "ssh: key login as $PMT_SSH_USER@127.0.0.1:$PMT_SSH_PORT works"
    else
      echo "ssh: key login as $PMT_SSH_USER@127.0.0.1:$PMT_SSH_PORT FAILS"
      all=0
    fi
  fi
  if running slurmctld; then
    ping=$(timeout 10 scontrol ping 2>&1 | head -1) || true
    echo "scontrol ping: $ping"
    timeout 10 sinfo -h -o 'partition %P: node %N %t, %c cpus' 2>&1 || all=0
  fi
  if ((all)); then
    echo "test cluster: up"
  else
    echo "test cluster: not (fully) running"
    return 3
  fi
}

cmd_env() {
  [[ -s $ENV_FILE ]] || die "no $ENV_FILE: run '$0 start' first"
  if ! running sshd || ! running slurmctld; then
    log "warning: the test cluster is not running ('$0 start')"
  fi
  cat "$ENV_FILE"
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop "${@:2}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
