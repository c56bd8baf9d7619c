/* signals.c - catch SIGUSR1/SIGTERM into a flag (nothing else is safe in a handler). */
#define _POSIX_C_SOURCE 200809L
#include "fm/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_caught = 0;

static void on_signal(int sig) { g_caught = sig; }

void fm_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int fm_signal_caught(void) { return (int)g_caught; }
