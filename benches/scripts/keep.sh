#!/bin/sh
# BACKLOG_WRAP helper: keeps a copy of run-once's inputs (config dir) in $KEEP_DIR, then runs
# run-once with $RUN_BIN (when set) in place of the bench's own binary.
cfg="$3"
root=$(dirname "$cfg")
rm -rf "$KEEP_DIR"; mkdir -p "$KEEP_DIR"
cp -a "$root"/. "$KEEP_DIR"/
echo "$root" > "$KEEP_DIR/.orig_root"
prog="$1"; shift
exec "${RUN_BIN:-$prog}" "$@"
