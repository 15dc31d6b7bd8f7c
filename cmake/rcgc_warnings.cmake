# Warnings for rcgc's own targets (never exported to consumers).
# -Wmissing-prototypes: every non-static function has a declaration in a
#   header, so a signature change cannot silently split caller and callee.
# -Wstrict-prototypes, -Wold-style-definition: f() means f(void) everywhere.
# -Wvla: no unbounded stack use (principle 6: bounded stack everywhere).
# -Wundef: a misspelled RCGC_CHECKS tier fails instead of reading as 0.
add_library(rcgc_warnings INTERFACE)
target_compile_options(rcgc_warnings INTERFACE
    -Wall -Wextra -Werror
    -Wshadow -Wstrict-prototypes -Wold-style-definition -Wmissing-prototypes
    -Wpointer-arith -Wformat=2 -Wvla -Wundef -Wcast-qual -Wwrite-strings
    -Wimplicit-fallthrough -Wnull-dereference)
