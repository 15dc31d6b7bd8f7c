/* tests/support/capture.h - a fatal-error handler that records the report
 * and jumps back into the test, so a misuse test can check the message. */
#ifndef RCGC_TEST_CAPTURE_H
#define RCGC_TEST_CAPTURE_H

#include <rcgc/common.h>

#include <setjmp.h>
#include <stdbool.h>

struct fatal_capture {
    jmp_buf back;
    bool fired;
    char message[1024];
};

/* Install the recording handler; pair with fatal_capture_end(). */
void fatal_capture_begin(struct fatal_capture *capture);
void fatal_capture_end(void);

/* Run statement S with the recording handler installed; afterwards
 * C->fired says whether S reported a fatal error, C->message what it said.
 * setjmp is the whole controlling expression of the if, as C17 7.13.1.1
 * requires; locals that S changes must be volatile to be read afterwards. */
#define RUN_CAPTURING_FATAL(C, S)                                                                  \
    do {                                                                                           \
        fatal_capture_begin(C);                                                                    \
        if (setjmp((C)->back) == 0) {                                                              \
            S;                                                                                     \
        }                                                                                          \
        fatal_capture_end();                                                                       \
    } while (0)

#endif /* RCGC_TEST_CAPTURE_H */
