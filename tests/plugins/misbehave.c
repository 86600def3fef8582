/*
 * Test plugin "misbehave": every way a step plugin can take its process
 * down or get in the way of its output, one per word, so the containment
 * test (tests/e2e/robust_plugins.sh) can try each against the engine.
 *
 *  init    config "init" (string), or the environment's MISBEHAVE_INIT: does
 *          that word when the engine binds it;
 *  enter   config "enter" (string): does that word on entering the state;
 *  handle  input "do" (string): does that word (any event it accepts).
 *
 * The words: "segv" (a write through NULL, or address "code"), "abort", "fpe" (an integer
 * division by zero), "stack" (unbounded recursion), "exit" (exit(N), N
 * from input/config "code", default 0), "quick_exit" (the same), "hang"
 * (sleeps forever), "spin"
 * (loops forever), "print" (printf and write(2) to standard output), "log"
 * (a warning through the host's log). Anything else: nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caseflow/plugin.h"

static const char *const misbehave_accepts[] = {"poke", "noisy", "crash", "exit", "close", NULL};
static const char *const misbehave_emits[] = {NULL};

/* A real division by zero, a SIGFPE from the CPU: the sanitizer build's
 * UBSan would report it and exit 1 before the CPU ever faults. */
#if defined(__clang__)
__attribute__((no_sanitize("integer-divide-by-zero")))
#elif defined(__GNUC__)
__attribute__((no_sanitize_undefined))
#endif
static int divide(volatile int a, volatile int b)
{
    return a / b;
}

static int deeper(volatile int n)
{
    volatile char frame[4096];
    frame[0] = (char)n;
    if (n < 0) /* never: the recursion ends in the overflow */
        return 0;
    return deeper(n + 1) + frame[0];
}

static int misbehave(const cf_host *host, cf_step *step, const char *word, int code)
{
    if (!word)
        return CF_PLUGIN_OK;
    if (strcmp(word, "segv") == 0) {
        /* A volatile store cannot be optimised away, whatever its address. */
        volatile int *nowhere = (volatile int *)(uintptr_t)code;
        *nowhere = 1;
    } else if (strcmp(word, "abort") == 0) {
        abort();
    } else if (strcmp(word, "fpe") == 0) {
        return divide(1, 0);
    } else if (strcmp(word, "stack") == 0) {
        return deeper(0);
    } else if (strcmp(word, "exit") == 0) {
        exit(code);
    } else if (strcmp(word, "quick_exit") == 0) {
        quick_exit(code);
    } else if (strcmp(word, "hang") == 0) {
        for (;;)
            sleep(1);
    } else if (strcmp(word, "spin") == 0) {
        for (volatile unsigned long i = 0;; i++)
            ;
    } else if (strcmp(word, "print") == 0) {
        printf("misbehave was here (printf)\n");
        static const char raw[] = "misbehave was here (write)\n";
        ssize_t w = write(STDOUT_FILENO, raw, sizeof raw - 1);
        (void)w;
    } else if (strcmp(word, "log") == 0 && step) {
        host->log(step, CF_LOG_WARN, "misbehave logs a warning");
    }
    return CF_PLUGIN_OK;
}

static int misbehave_init(const cf_host *host, const json_t *config, void **state,
                          char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *state = json_incref((json_t *)config);
    /* MISBEHAVE_INIT (environment) overrides the config's word: the same
     * deployed workflow misbehaves when a later command binds it. */
    const char *word = getenv("MISBEHAVE_INIT");
    if (!word)
        word = json_string_value(json_object_get(config, "init"));
    return misbehave(host, NULL, word, 0);
}

static int misbehave_enter(const cf_host *host, void *state, cf_step *step)
{
    const json_t *config = state;
    return misbehave(host, step, json_string_value(json_object_get(config, "enter")),
                     (int)json_integer_value(json_object_get(config, "code")));
}

static int misbehave_handle(const cf_host *host, void *state, cf_step *step,
                            const char *event, const json_t *input)
{
    (void)state;
    (void)event;
    return misbehave(host, step, json_string_value(json_object_get(input, "do")),
                     (int)json_integer_value(json_object_get(input, "code")));
}

static void misbehave_fini(void *state)
{
    json_decref(state);
}

CF_PLUGIN_DEFINE(misbehave,
    .version = "6.6.6",
    .summary = "Test plugin: crashes, exits, hangs or prints as it is told",
    .accepts = misbehave_accepts,
    .emits = misbehave_emits,
    .init = misbehave_init,
    .enter = misbehave_enter,
    .handle = misbehave_handle,
    .fini = misbehave_fini);
