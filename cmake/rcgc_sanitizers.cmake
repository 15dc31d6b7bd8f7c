# RCGC_SANITIZE applies to every target in the tree: the library, tests,
# stress programs and examples, so a report can point into any of them.
if(RCGC_SANITIZE)
    set(rcgc_san_flags -fsanitize=${RCGC_SANITIZE} -fno-omit-frame-pointer -g)
    if(RCGC_SANITIZE MATCHES "undefined")
        # A UBSan finding fails the run instead of scrolling past.
        list(APPEND rcgc_san_flags -fno-sanitize-recover=all)
    endif()
    add_compile_options(${rcgc_san_flags})
    add_link_options(-fsanitize=${RCGC_SANITIZE})
endif()

# Fuzzing: coverage for libFuzzer in every target, the library included,
# so that the fuzzer steers by the branches rcgc takes.
if(RCGC_BUILD_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "RCGC_BUILD_FUZZ needs clang (libFuzzer)")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
