#!/usr/bin/env bash
# Runs inside the stock Debian 12 VM (test/stock-host/run; the checkout at /mnt/host): Node 20
# from the npm registry by deploy/install-node, `slipway doctor`, the cgroup driver's unit tests,
# and real containers (OOM kill, pids limit, exit codes) on the unified cgroup v2 hierarchy.
set -uo pipefail
cd /mnt/host
status=0
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }

step "host: node $(node --version 2>&1), cgroup fs $(stat -fc %T /sys/fs/cgroup), subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
step "deploy/install-node"
bash deploy/install-node || status=1
hash -r
step "node is now $(node --version)"
export DEBIAN_FRONTEND=noninteractive
pkgs=(iptables iproute2 busybox-static bsdutils)
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
step "slipway doctor"
node bin/slipway.js doctor || status=1
export SLIPWAY_TEST_PREFIX=slwtvm
step "cgroup driver unit tests"
node --import tsx --test test/unit/layer0/runtime/cgroups.test.ts 2>&1 | grep -E "^# (pass|fail)|^not ok" || true
node --import tsx --test test/unit/layer0/runtime/cgroups.test.ts >/dev/null 2>&1 || status=1
step "runtime: OOM, pids limit, exit codes on cgroup v2"
timeout 1800 node --import tsx --test --test-name-pattern="OOM|pids-limit|exit code" test/integration/runtime.test.ts > /tmp/runtime.log 2>&1 || status=1
grep -E "^# (pass|fail)|^ *(not )?ok [0-9]+ - " /tmp/runtime.log | grep -v SKIP
step "left behind: $(find /sys/fs/cgroup -maxdepth 1 -name 'slwt*' | wc -l) slwt cgroups"
step "done, status $status"
exit $status
