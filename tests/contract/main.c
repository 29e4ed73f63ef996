/* SPDX-License-Identifier: MIT */
/* Contract-suite driver: `contract <backend> [filter]` runs every contract
 * test for each way the backend reaches a channel (pair, each naming). */
#include "contract.h"
#include "harness.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ct_self_exe;

static const struct ct_test *const ct_groups[] = {
    ct_tests_caps, ct_tests_msg,   ct_tests_time,
    ct_tests_peer, ct_tests_named, ct_tests_addr,
};

#define CT_MAX_MODES 5
#define CT_MAX_CASES 512

static struct ct_mode ct_modes[CT_MAX_MODES];
static int ct_n_modes;
static struct ct_case ct_cases[CT_MAX_CASES];
/* Filled from the front; cmocka skips the unnamed entries after them, so
 * the public cmocka_run_group_tests_name() can take the whole array. */
static struct CMUnitTest ct_units[CT_MAX_CASES];
static char ct_names[CT_MAX_CASES][96];
static size_t ct_n_units;

static void ct_add(const struct ct_test *t, const struct ct_mode *mode)
{
    if (ct_n_units == CT_MAX_CASES) {
        fprintf(stderr, "contract: too many cases\n");
        exit(2);
    }
    size_t i = ct_n_units++;
    snprintf(ct_names[i], sizeof ct_names[i], "%s/%s",
             mode ? mode->name : "backend", t->name);
    ct_cases[i] = (struct ct_case){.mode = mode, .name = ct_names[i]};
    ct_units[i] = (struct CMUnitTest){
        .name = ct_names[i],
        .test_func = t->fn,
        .setup_func = ct_setup,
        .teardown_func = ct_teardown,
        .initial_state = &ct_cases[i],
    };
}

static void ct_build(const struct ct_backend *be)
{
    if (be->pair_caps)
        ct_modes[ct_n_modes++] = (struct ct_mode){"pair", NULL};
    for (int i = 0; be->namings[i] && ct_n_modes < CT_MAX_MODES; i++)
        ct_modes[ct_n_modes++] =
            (struct ct_mode){be->namings[i]->name, be->namings[i]};

    for (size_t g = 0; g < sizeof ct_groups / sizeof ct_groups[0]; g++) {
        for (const struct ct_test *t = ct_groups[g]; t->name; t++) {
            if (t->scope == CT_ONCE) {
                ct_add(t, NULL);
                continue;
            }
            for (int m = 0; m < ct_n_modes; m++) {
                const struct ct_naming *nm = ct_modes[m].naming;
                bool ok =
                    t->scope == CT_EACH_MODE ||
                    (t->scope == CT_EACH_NAMING && nm) ||
                    (t->scope == CT_EACH_FS_NAMING && nm && nm->row->fs) ||
                    (t->scope == CT_FRAMED_PAIR && !nm && be->framed);
                if (ok)
                    ct_add(t, &ct_modes[m]);
            }
        }
    }
}

static void ct_usage(void)
{
    fprintf(stderr, "usage: contract <backend> [test-filter]\nbackends:");
    for (const struct tu_scheme *s = tu_schemes; s->scheme; s++)
        fprintf(stderr, " %s", s->scheme);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    static char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        ct_self_exe = self;
    } else {
        ct_self_exe = argv[0];
    }
    if (argc >= 2 && strcmp(argv[1], CT_CHILD_ARG) == 0)
        return ct_child_main(argc, argv);
    if (argc < 2) {
        ct_usage();
        return 2;
    }
    ct_backend = ct_backend_load(argv[1]);
    if (!ct_backend) {
        ct_usage();
        return 2;
    }
    /* A SIGPIPE the library lets through must kill the test, visibly. */
    signal(SIGPIPE, SIG_DFL);
    uint64_t seed = tu_seed_from_env();
    printf("contract.%s: seed %llu (IPC_TEST_SEED to repeat)\n",
           ct_backend->name, (unsigned long long)seed);

    ct_build(ct_backend);
    if (argc >= 3)
        cmocka_set_test_filter(argv[2]);
    char group[64];
    snprintf(group, sizeof group, "contract.%s", ct_backend->name);
    return cmocka_run_group_tests_name(group, ct_units, NULL, NULL);
}
