/* tests/support/child.c - fork/exec helpers for death tests and fresh-process
 * tests. Owns nothing shared: each call makes its own pipe and child. */
#include "support/child.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void collect(int read_fd, pid_t pid, struct child_result *result) {
    size_t used = 0;
    for (;;) {
        ssize_t got = read(read_fd, result->output + used, sizeof result->output - 1 - used);
        if (got <= 0)
            break;
        used += (size_t)got;
        if (used == sizeof result->output - 1) {
            char sink[512]; /* keep draining so the child never blocks on a full pipe */
            while (read(read_fd, sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    result->output[used] = '\0';
    close(read_fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    result->exited = WIFEXITED(status);
    result->code = result->exited ? WEXITSTATUS(status) : WTERMSIG(status);
}

static pid_t fork_with_pipe(int *read_fd) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        abort();
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        return 0;
    }
    close(fds[1]);
    *read_fd = fds[0];
    return pid;
}

void child_run(void (*body)(void *arg), void *arg, struct child_result *result) {
    int read_fd = -1;
    pid_t pid = fork_with_pipe(&read_fd);
    if (pid == 0) {
        body(arg);
        fflush(NULL);
        _exit(0);
    }
    collect(read_fd, pid, result);
}

void child_exec_self(const char *argv1, const char *env_assignment, struct child_result *result) {
    int read_fd = -1;
    pid_t pid = fork_with_pipe(&read_fd);
    if (pid == 0) {
        /* Copies: putenv and execve take non-const strings. The child execs
         * or exits at once, so they are never freed. */
        if (env_assignment != NULL)
            putenv(strdup(env_assignment));
        char self[] = "self";
        char *const argv[] = {self, strdup(argv1), NULL};
        execve("/proc/self/exe", argv, environ);
        perror("execve /proc/self/exe");
        _exit(127);
    }
    collect(read_fd, pid, result);
}

bool child_aborted(const struct child_result *result) {
    return !result->exited && result->code == SIGABRT;
}
