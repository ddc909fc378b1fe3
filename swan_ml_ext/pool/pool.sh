#!/usr/bin/env bash
# The personal HTCondor pool: Debian trixie's minicondor in a chroot, 3 simulated mixed GPUs
# (one Tesla V100-PCIE-16GB, two A100-SXM4-40GB),
# a non-root job user "swan" with an IDTOKEN, a worker Python env at /opt/worker.
#
#   pool.sh up|down|status|build      (as root)
#
# SWAN_ML_POOL_DIR (default /var/lib/swan-ml-ext/pool) holds:
#   root/                  the chroot (the "batch node" + schedd + collector)
#   client/condor_config   the client config the extension uses by default
#   client/tokens.d/swan   the IDTOKEN of the job user (mode 600)
set -euo pipefail

POOL_DIR="${SWAN_ML_POOL_DIR:-/var/lib/swan-ml-ext/pool}"
ROOT="$POOL_DIR/root"
CLIENT="$POOL_DIR/client"
BUILT="$ROOT/.swan-ml-built-v1"
WORKER_PKGS="papermill==2.7.0 ipykernel nbformat nbclient numpy pandas matplotlib htchirp==3.0"
POOL_PORT="${SWAN_ML_POOL_PORT:-9618}"

log() { printf '[pool] %s\n' "$*" >&2; }
in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ROOT" "$@"; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "the personal pool needs root (chroot, mounts)" >&2
    exit 2
  fi
}

host_mirror() {
  # The Debian mirror this machine's apt already uses (deb822 or one-line format).
  local m
  m=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
        | grep -v security | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  fi
  printf '%s' "$m"
}

mount_all() {
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
}

umount_all() {
  local m
  for m in dev proc; do
    if mountpoint -q "$ROOT/$m"; then umount -l "$ROOT/$m"; fi
  done
}

build() {
  need_root
  if [ -f "$BUILT" ]; then
    log "already built at $ROOT"
    return 0
  fi
  mkdir -p "$POOL_DIR"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    umount_all 2>/dev/null || true
    rm -rf "$ROOT"
    log "debootstrap trixie into $ROOT (about a minute)"
    # shellcheck disable=SC2046
    debootstrap --variant=minbase trixie "$ROOT" $(host_mirror) >"$POOL_DIR/debootstrap.log" 2>&1 \
      || { tail -n 20 "$POOL_DIR/debootstrap.log" >&2; exit 1; }
  fi
  mount_all
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # The package index is reached through a proxy whose CA only the host trusts.
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null \
    || { mkdir -p "$ROOT/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"; }
  log "installing minicondor + python3-venv in the chroot"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    minicondor python3-venv ca-certificates procps >"$POOL_DIR/apt.log" 2>&1 \
    || { tail -n 30 "$POOL_DIR/apt.log" >&2; exit 1; }
  # apt may have regenerated the bundle: put the host's back.
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  in_root id swan >/dev/null 2>&1 || in_root useradd -m -s /bin/bash swan
  log "worker environment /opt/worker: $WORKER_PKGS"
  in_root python3 -m venv /opt/worker
  # shellcheck disable=SC2086
  in_root env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /opt/worker/bin/pip install -q $WORKER_PKGS >"$POOL_DIR/pip.log" 2>&1 \
    || { tail -n 30 "$POOL_DIR/pip.log" >&2; exit 1; }
  in_root /opt/worker/bin/python -m ipykernel install --prefix /opt/worker --name python3 \
    --display-name "Python 3 (worker)" >/dev/null
  write_pool_config
  touch "$BUILT"
  log "built"
}

write_pool_config() {
  cat >"$ROOT/etc/condor/config.d/90-swan-ml-ext.conf" <<CONF
# Written by swan-ml pool. The sandbox cannot unshare mount namespaces.
MOUNT_UNDER_SCRATCH =
USE_PID_NAMESPACES = False
# Three simulated GPUs of two models on the one execute node: condor_gpu_discovery
# -simulate:D,N,... = N devices of type D; 2 = Tesla V100-PCIE-16GB (cc 7.0), 4 =
# A100-SXM4-40GB (cc 8.0); each with its own GPUs_GPU_<id> properties in the startd ad.
use feature:GPUs
GPU_DISCOVERY_EXTRA = -simulate:2,1,4,2
# A small machine that should still run several notebooks at once.
NUM_CPUS = 8
MEMORY = 16384
# Fast turnaround for interactive use.
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_MIN_INTERVAL = 1
SCHEDD_INTERVAL = 5
STARTER_UPDATE_INTERVAL = 5
SHADOW_QUEUE_UPDATE_INTERVAL = 2
# periodic_remove/hold (maximum runtime) evaluated every 5 s, not every 60 s
PERIODIC_EXPR_INTERVAL = 5
STARTD_JOB_ATTRS = \$(STARTD_JOB_ATTRS) SwanMLJobId
# chirp from the job to the schedd (live progress and log tail)
ENABLE_CHIRP = True
ENABLE_CHIRP_UPDATES = True
CONF
}

running() {
  pgrep -f "^condor_master" >/dev/null 2>&1 || pgrep -x condor_master >/dev/null 2>&1
}

write_client_config() {
  local uid_domain
  uid_domain=$(in_root condor_config_val UID_DOMAIN)
  mkdir -p "$CLIENT/tokens.d"
  chmod 700 "$CLIENT/tokens.d"
  if [ ! -s "$CLIENT/tokens.d/swan" ]; then
    in_root condor_token_create -identity "swan@$uid_domain" >"$CLIENT/tokens.d/swan.tmp"
    mv "$CLIENT/tokens.d/swan.tmp" "$CLIENT/tokens.d/swan"
  fi
  chmod 600 "$CLIENT/tokens.d/swan"
  cat >"$CLIENT/condor_config" <<CONF
# Client side of the swan-ml personal pool (written by swan-ml pool up).
CONDOR_HOST = 127.0.0.1:$POOL_PORT
COLLECTOR_HOST = 127.0.0.1:$POOL_PORT
SCHEDD_HOST = \$(FULL_HOSTNAME)
SEC_TOKEN_DIRECTORY = $CLIENT/tokens.d
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS
LOG = $CLIENT/log
CONF
  mkdir -p "$CLIENT/log"
}

up() {
  need_root
  build
  mount_all
  write_pool_config
  if ! running; then
    log "starting condor_master"
    in_root condor_master
  else
    in_root condor_reconfig >/dev/null 2>&1 || true
  fi
  write_client_config
  local i
  for i in $(seq 1 60); do
    if in_root condor_status -af Name 2>/dev/null | grep -q . \
       && in_root condor_q -totals >/dev/null 2>&1; then
      log "pool up: $(in_root condor_status -af Name GPUs | head -n1)"
      echo "CONDOR_CONFIG=$CLIENT/condor_config"
      return 0
    fi
    sleep 1
  done
  log "pool did not come up within 60 s"
  exit 1
}

down() {
  need_root
  if running; then
    log "stopping condor daemons"
    in_root condor_off -master -fast >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 30); do running || break; sleep 0.5; done
    pkill -9 -f '^condor_' 2>/dev/null || true
    pkill -9 -x condor_master 2>/dev/null || true
  fi
  [ -d "$ROOT" ] && umount_all
  log "pool down"
}

status() {
  if [ ! -f "$BUILT" ]; then echo "not built ($ROOT)"; exit 3; fi
  if ! running; then echo "built, not running ($ROOT)"; exit 3; fi
  echo "running ($ROOT); client config: $CLIENT/condor_config"
  in_root condor_status -af Name Cpus Memory GPUs 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  build) build ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
