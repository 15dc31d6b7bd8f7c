#!/usr/bin/env bash
# Every dynamic symbol that librcgc.so defines is public API: it starts with
# "rcgc_" and not with "rcgc__" (the internal prefix), so hosts can never
# link against internals by accident.
set -euo pipefail
lib=$1
symbols=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort -u)
bad=$(echo "$symbols" | grep -v '^rcgc_[a-z]' || true)
internal=$(echo "$symbols" | grep '^rcgc__' || true)
for expected in rcgc_raw_malloc rcgc_raw_free rcgc_fault_inject rcgc_set_fatal_handler rcgc_version_string; do
    echo "$symbols" | grep -qx "$expected" || { echo "missing export: $expected"; exit 1; }
done
if [ -n "$bad$internal" ]; then
    echo "symbols exported that are not public API:"
    echo "$bad$internal"
    exit 1
fi
echo "ok: $(echo "$symbols" | wc -l) symbols, all public API"
