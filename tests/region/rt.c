/* SPDX-License-Identifier: MIT */
/* Region tests' toolkit (rt.h). */
#include "rt.h"
#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const struct rt_mech rt_mechs[] = {
    {"shm", true, false, IPC_REGION_CAP_NAMED},
    {"file", true, false,
     IPC_REGION_CAP_NAMED | IPC_REGION_CAP_PERSISTENT | IPC_REGION_CAP_RAW},
    {"memfd", false, true,
     IPC_REGION_CAP_PAIR | IPC_REGION_CAP_SEALED | IPC_REGION_CAP_INHERIT},
    {NULL, false, false, 0},
};

#define RT_MAX_ADDRS 64
static char rt_addrs[RT_MAX_ADDRS][512];
static int rt_n_addrs;

const struct rt_mech *rt_mech_find(const char *name)
{
    for (const struct rt_mech *m = rt_mechs; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

void rt_addr(const struct rt_mech *mech, char *buf, size_t size)
{
    char unique[96];
    tu_unique(unique, sizeof unique, "ipcrt");
    if (strcmp(mech->name, "file") == 0)
        snprintf(buf, size, "file:%s/%s", tu_tmpdir(), unique);
    else if (strcmp(mech->name, "shm") == 0)
        snprintf(buf, size, "shm:/%s", unique);
    else
        snprintf(buf, size, "%s:", mech->name);
    if (mech->named && rt_n_addrs < RT_MAX_ADDRS)
        snprintf(rt_addrs[rt_n_addrs++], sizeof rt_addrs[0], "%s", buf);
}

void rt_os_path(const char *addr, char *buf, size_t size)
{
    if (strncmp(addr, "shm:", 4) == 0)
        snprintf(buf, size, "/dev/shm%s", addr + 4);
    else if (strncmp(addr, "file:", 5) == 0)
        snprintf(buf, size, "%s", addr + 5);
    else
        snprintf(buf, size, "?");
}

/* Hidden temporary files of this process in dir (".ipcrt-<pid>-..."), and
 * our names in /dev/shm: none may survive a test. */
static int rt_strays(const char *dir, const char *prefix)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            print_error("left behind: %s/%s\n", dir, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

void rt_cleanup(void)
{
    int left = 0;
    char path[600], prefix[64];
    for (int i = 0; i < rt_n_addrs; i++) {
        ipc_region_unlink(rt_addrs[i]);
        rt_os_path(rt_addrs[i], path, sizeof path);
        if (tu_path_exists(path)) {
            print_error("left behind: %s\n", path);
            unlink(path);
            left++;
        }
    }
    rt_n_addrs = 0;
    snprintf(prefix, sizeof prefix, ".ipcrt-%ld-", (long)getpid());
    left += rt_strays(tu_tmpdir(), prefix);
    snprintf(prefix, sizeof prefix, "ipcrt-%ld-", (long)getpid());
    left += rt_strays("/dev/shm", prefix);
    assert_int_equal(left, 0);
}

int rt_teardown(void **state)
{
    (void)state;
    rt_cleanup();
    return 0;
}

void rt_check(ipc_err got, ipc_err want, const char *what, int line)
{
    if (got == want)
        return;
    print_error("line %d: %s: %s, expected %s (detail \"%s\")\n", line, what,
                ipc_errname(got), ipc_errname(want), ipc_last_detail());
    fail();
}

int rt_child(int (*fn)(void *), void *arg, int timeout_ms)
{
    pid_t pid = tu_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches these to report a test; a child must die of them */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        _exit(fn(arg));
    }
    int status = 0;
    if (!tu_wait(pid, timeout_ms, &status))
        fail_msg("child did not end within %d ms", timeout_ms);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
