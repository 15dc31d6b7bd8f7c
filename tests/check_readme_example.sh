#!/usr/bin/env bash
# The README's embedding example is examples/embedding.c, word for word from
# its first #include on: samples in documents come from built examples.
set -euo pipefail
source_dir=$1
readme_block=$(awk '/^## Embedding it/{inside=1} inside && /^```c$/{grab=1; next} grab && /^```$/{exit} grab' "$source_dir/README.md")
example=$(sed -n '/^#include <rcgc.h>/,$p' "$source_dir/examples/embedding.c")
if [ "$readme_block" != "$example" ]; then
    echo "README.md's embedding example differs from examples/embedding.c:"
    diff <(echo "$readme_block") <(echo "$example") || true
    exit 1
fi
echo "ok: README example matches examples/embedding.c"
