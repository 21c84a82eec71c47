#!/bin/bash
# usage: rss_after_listings.sh LABEL BIN [VAR=value...]
# The daemon's memory on a store filled by `STORE_SCALE_DIR=DIR cargo bench --bench
# store_scale` (DIR: $SS, /work/ss unless set; configuration $CFG, DIR/disclosured.toml
# unless set): `serve` with the VAR=value settings in its environment (LD_PRELOAD of
# another allocator, _RJEM_MALLOC_CONF), VmRSS 5 s after start, then right after 3x
# `reports list --json` and 3x `digest --dry-run` through its control socket, and
# 10 s later; VmHWM is the peak.
LABEL=$1; BIN=$2; shift 2
SS=${SS:-/work/ss}
CFG=${CFG:-$SS/disclosured.toml}
SOCK=$SS/state.sock
env "$@" RUST_LOG=warn $BIN --config $CFG serve >/dev/null 2>&1 &
PID=$!
until [ -S $SOCK ]; do sleep 0.05; done
sleep 5
rss() { awk "/$1/{printf \"%.1f\", \$2/1024}" /proc/$PID/status; }
r0=$(rss VmRSS)
t0=$(date +%s%N)
for i in 1 2 3; do $BIN --config $CFG reports list --json >/dev/null || echo LIST FAILED; done
t1=$(date +%s%N)
for i in 1 2 3; do $BIN --config $CFG digest --dry-run >/dev/null || echo DIGEST FAILED; done
t2=$(date +%s%N)
r1=$(rss VmRSS); hwm=$(rss VmHWM)
sleep 10
r2=$(rss VmRSS)
kill -TERM $PID; wait $PID
echo "$LABEL start=$r0 after=$r1 after10s=$r2 peak=$hwm MiB; list x3 $(( (t1-t0)/1000000 )) ms, digest x3 $(( (t2-t1)/1000000 )) ms"
