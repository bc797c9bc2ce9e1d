#!/bin/bash
# CPU (user + sys) of a command and of EVERY process it starts, and its wall time, from a cpuacct
# cgroup (cgroup v1, root).  os.times()/`time` count only the children a process waited for: Chromium's
# renderer and GPU processes (the browser tests) and some dask worker processes are missed there.
#
#   benchmarks/cpu_of.sh TAG COMMAND...     e.g.
#   PYTHONPATH=$PWD benchmarks/cpu_of.sh mine python -m pytest tests/test_browser.py -q -p no:randomly
#
# prints "TAG rc=.. wall=.. cpu=.. load=.." and the command's last output line.
set -u
tag=$1; shift
cg=/sys/fs/cgroup/cpuacct/locmap_cpu_of_$$
mkdir -p "$cg" || { echo "needs root and a cgroup v1 cpuacct hierarchy at /sys/fs/cgroup/cpuacct" >&2; exit 2; }
out=$(mktemp)
t0=$(date +%s.%N)
( echo "$BASHPID" > "$cg/cgroup.procs" && exec "$@" ) > "$out" 2>&1
rc=$?
t1=$(date +%s.%N)
ns=$(cat "$cg/cpuacct.usage")
echo "$tag rc=$rc wall=$(echo "$t1 - $t0" | bc) cpu=$(echo "scale=2; $ns / 1000000000" | bc)" \
     "load=$(cut -d' ' -f1 /proc/loadavg) | $(tail -1 "$out")"
rm -f "$out"
rmdir "$cg" 2>/dev/null || true
