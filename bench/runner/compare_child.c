/* bench/runner/compare_child.c - start one benchmark process with a chosen
 * LD_PRELOAD, capture its output, find its result line, reap it with wait4.
 *
 * Owns the child's pipes and environment copy for the length of one call;
 * shares nothing (compare is single-threaded). posix_spawnp rather than
 * fork: glibc's posix_spawn is vfork-like, so starting a child costs the same
 * whatever compare's own size, and it reports exec failures as return codes.
 */
#include "compare_child.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESULT_TAG "bench-result "

/* A partial line of one stream, assembled across reads. */
struct line_buf {
    char text[CHILD_LINE_MAX];
    size_t len;
    bool is_stdout;
};

struct capture {
    struct child_report *out;
    int results;          /* result lines seen on stdout */
    bool bad_result;      /* a result line that does not parse */
    bool preload_refused; /* ld.so said it ignored LD_PRELOAD */
    bool have_first;
};

static void tail_push(struct child_report *out, const char *line) {
    if (out->tail_count == CHILD_TAIL_LINES) {
        memmove(out->tail[0], out->tail[1], sizeof out->tail[0] * (CHILD_TAIL_LINES - 1));
        out->tail_count--;
    }
    size_t n = strlen(line); /* at most CHILD_LINE_MAX - 1: line_feed cuts */
    memcpy(out->tail[out->tail_count], line, n + 1);
    out->tail_count++;
}

/* "<value> <unit> <lower|higher>" with nothing after it. */
static bool result_parse(const char *text, struct child_report *out) {
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || !isfinite(value))
        return false;
    char unit[sizeof out->unit], direction[8];
    int used = 0;
    if (sscanf(end, " %31s %7s %n", unit, direction, &used) != 2 || end[used] != '\0')
        return false;
    bool lower = strcmp(direction, "lower") == 0;
    if (!lower && strcmp(direction, "higher") != 0)
        return false;
    out->value = value;
    memcpy(out->unit, unit, sizeof unit);
    out->lower_is_better = lower;
    return true;
}

static void line_done(struct capture *cap, struct line_buf *lb) {
    lb->text[lb->len] = '\0';
    lb->len = 0;
    if (lb->is_stdout) {
        if (!cap->have_first) {
            memcpy(cap->out->first_line, lb->text, sizeof lb->text);
            cap->have_first = true;
        }
        if (strncmp(lb->text, RESULT_TAG, strlen(RESULT_TAG)) == 0) {
            cap->results++;
            if (!result_parse(lb->text + strlen(RESULT_TAG), cap->out))
                cap->bad_result = true;
        }
    } else if (strstr(lb->text, "LD_PRELOAD cannot be preloaded") != NULL) {
        /* ld.so only warns and runs on with the default malloc: without this
         * check glibc's numbers would be printed under the peer's name. */
        cap->preload_refused = true;
    }
    tail_push(cap->out, lb->text);
}

static void line_feed(struct capture *cap, struct line_buf *lb, const char *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n')
            line_done(cap, lb);
        else if (lb->len < CHILD_LINE_MAX - 1)
            lb->text[lb->len++] = data[i];
    }
}

/* environ minus LD_PRELOAD, plus LD_PRELOAD=@preload when not NULL. One
 * allocation holds the pointer array and the new string; free() it whole. */
static char **env_with_preload(const char *preload) {
    size_t count = 0;
    while (environ[count] != NULL)
        count++;
    size_t extra = preload != NULL ? strlen("LD_PRELOAD=") + strlen(preload) + 1 : 0;
    char **envp = malloc((count + 2) * sizeof *envp + extra);
    if (envp == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", strlen("LD_PRELOAD=")) != 0)
            envp[k++] = environ[i];
    if (preload != NULL) {
        char *var = (char *)(envp + count + 2);
        snprintf(var, extra, "LD_PRELOAD=%s", preload);
        envp[k++] = var;
    }
    envp[k] = NULL;
    return envp;
}

static int spawn_captured(char *const argv[], char **envp, int out_fd, int err_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0)
        return rc;
    rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    if (rc == 0)
        rc = posix_spawnp(pid, argv[0], &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

/* Read both pipes until both close. Two pipes, not stderr merged into
 * stdout, so that only stdout can carry the result line, as the protocol
 * says; poll keeps a chatty stderr from blocking the child. */
static void capture_all(struct capture *cap, int out_fd, int err_fd) {
    struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    struct line_buf lines[2] = {{.is_stdout = true}, {.is_stdout = false}};
    int open_count = 2;
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int s = 0; s < 2; s++) {
            if (fds[s].fd < 0 || fds[s].revents == 0)
                continue;
            char buf[4096];
            ssize_t n = read(fds[s].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0) {
                line_feed(cap, &lines[s], buf, (size_t)n);
                continue;
            }
            if (lines[s].len > 0)
                line_done(cap, &lines[s]);
            close(fds[s].fd);
            fds[s].fd = -1;
            open_count--;
        }
    }
    for (int s = 0; s < 2; s++)
        if (fds[s].fd >= 0)
            close(fds[s].fd);
}

static void judge(struct capture *cap, int status, struct child_report *out) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(out->failure, sizeof out->failure, "signal %d, %s", sig, strsignal(sig));
        return;
    }
    out->exit_status = WEXITSTATUS(status);
    if (out->exit_status != 0)
        snprintf(out->failure, sizeof out->failure, "exit %d", out->exit_status);
    else if (cap->preload_refused)
        snprintf(out->failure, sizeof out->failure, "exit 0, LD_PRELOAD refused by ld.so");
    else if (cap->results == 0)
        snprintf(out->failure, sizeof out->failure, "exit 0, no result line");
    else if (cap->results > 1)
        snprintf(out->failure, sizeof out->failure, "exit 0, %d result lines, want 1",
                 cap->results);
    else if (cap->bad_result)
        snprintf(out->failure, sizeof out->failure, "exit 0, malformed result line");
    else
        out->ok = true;
}

void compare_child_run(char *const argv[], const char *preload, struct child_report *out) {
    memset(out, 0, sizeof *out);
    out->exit_status = -1;
    int out_pipe[2], err_pipe[2];
    char **envp = env_with_preload(preload);
    if (envp == NULL) {
        snprintf(out->failure, sizeof out->failure, "out of memory");
        return;
    }
    /* Close-on-exec on every end: dup2 onto 1 and 2 gives the child fresh
     * descriptors without the flag, and the originals vanish at exec, so a
     * child never holds a write end open and our reads see end-of-file. */
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
        snprintf(out->failure, sizeof out->failure, "pipe: %s", strerror(errno));
        free(envp);
        return;
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        snprintf(out->failure, sizeof out->failure, "pipe: %s", strerror(errno));
        close(out_pipe[0]);
        close(out_pipe[1]);
        free(envp);
        return;
    }
    pid_t pid = 0;
    int rc = spawn_captured(argv, envp, out_pipe[1], err_pipe[1], &pid);
    free(envp);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        snprintf(out->failure, sizeof out->failure, "cannot run %s: %s", argv[0], strerror(rc));
        close(out_pipe[0]);
        close(err_pipe[0]);
        return;
    }

    struct capture cap = {.out = out};
    capture_all(&cap, out_pipe[0], err_pipe[0]);

    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            snprintf(out->failure, sizeof out->failure, "wait4: %s", strerror(errno));
            return;
        }
    }
    /* ru_maxrss is in KiB on Linux. Its floor is compare's own RSS (about
     * 1 MiB): exec keeps the high-water mark of the address space it
     * replaces, which under posix_spawn's shared-VM start is compare's. */
    out->peak_rss_mib = (double)usage.ru_maxrss / 1024.0;
    judge(&cap, status, out);
}
