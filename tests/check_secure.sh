#!/usr/bin/env bash
# Under librcgc-malloc-secure.so a write after free into a free-list link
# is reported and the program stops; malloc never returns the forged pointer.
set -uo pipefail
preload=$(realpath "$1")
program=$2
output=$(LD_PRELOAD=$preload "$program" 2>&1)
status=$?
if [ "$status" -ne 134 ] || ! grep -q "corrupted at the freed block" <<<"$output"; then
    echo "expected an abort with a corrupted-free-list report; got status $status:"
    echo "$output"
    exit 1
fi
echo "ok: $(grep -o 'rcgc: free list.*' <<<"$output")"
