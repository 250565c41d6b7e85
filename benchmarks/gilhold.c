/* Ground truth for the gilknocker benchmarks: hold the GIL for exactly known times.
 *
 * Compiled by benchmarks/run.py (gcc -O2 -shared -fPIC) into a temporary directory and loaded
 * with ctypes. Through ctypes.PyDLL a call keeps the GIL for its whole duration; through
 * ctypes.CDLL ctypes releases the GIL around the call. gh_duty is called through PyDLL and
 * releases/re-takes the GIL itself (PyEval_SaveThread/PyEval_RestoreThread, resolved against the
 * running interpreter), so every hold it reports is the exact interval during which this thread
 * owned the GIL: no Python bytecode or ctypes overhead runs between the recorded intervals.
 *
 * All times are CLOCK_MONOTONIC nanoseconds, the clock of Python's time.monotonic_ns().
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

extern void *PyEval_SaveThread(void);
extern void PyEval_RestoreThread(void *tstate);
extern unsigned long PyThread_get_thread_ident(void);
extern void *PyGILState_GetThisThreadState(void);

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t gh_now(void) { return now_ns(); }

/* Written by warm-ups so that the compiler keeps their reads. */
static volatile uintptr_t sink;

/* Busy-wait until `deadline_ns` (or until *stop becomes non-zero); returns the time it ended. */
static int64_t spin_until(int64_t deadline_ns, volatile int32_t *stop) {
    int64_t t;
    while ((t = now_ns()) < deadline_ns) {
        if (stop && *stop) break;
    }
    return t;
}

/* Busy-wait for `ns`; returns the time it ended. Holds the GIL through PyDLL, not through CDLL. */
int64_t gh_spin(int64_t ns) { return spin_until(now_ns() + ns, 0); }

/* Sleep for `ns` (call through CDLL); returns the time just before returning to ctypes, i.e. the
 * moment the calling thread starts asking for the GIL again. */
int64_t gh_sleep(int64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, 0);
    return now_ns();
}

/* Duty cycle on a fixed grid: hold the GIL during [t0 + k*period, t0 + k*period + hold) and
 * release it for the rest of each period, until `until_ns` or *stop. Call through PyDLL.
 *
 * Each actual hold (from the moment the GIL was re-taken, or the grid start, to the moment it
 * was released) is written to intervals[2i], intervals[2i+1] while i < capacity. Returns the
 * number of holds (may exceed capacity: the caller must check). hold_ns == 0 never holds. */
int64_t gh_duty(int64_t hold_ns, int64_t period_ns, int64_t until_ns, int64_t *intervals,
                int64_t capacity, volatile int32_t *stop) {
    int64_t count = 0;
    void *tstate;
    if (hold_ns <= 0) {
        tstate = PyEval_SaveThread();
        spin_until(until_ns, stop);
        PyEval_RestoreThread(tstate);
        return 0;
    }
    int64_t t0 = now_ns();
    int64_t k = 0;
    while (!*stop) {
        int64_t r = now_ns(); /* we hold the GIL */
        if (r >= until_ns) break;
        /* The first grid hold that has not ended yet. */
        while (t0 + k * period_ns + hold_ns <= r) k++;
        int64_t start = t0 + k * period_ns;
        if (start > r) {
            /* Early (we were late and skipped holds): release until the hold begins. */
            tstate = PyEval_SaveThread();
            spin_until(start, stop);
            PyEval_RestoreThread(tstate);
            continue;
        }
        int64_t end = spin_until(start + hold_ns, 0);
        if (count < capacity) {
            intervals[2 * count] = r;
            intervals[2 * count + 1] = end;
        }
        count++;
        tstate = PyEval_SaveThread();
        spin_until(start + period_ns, stop);
        PyEval_RestoreThread(tstate);
        k++;
    }
    return count;
}

/* The floor under a knock's cost: CPython's own GIL acquisition after a sleep. For each i, sleep
 * sleeps_ns[i] with the GIL released, read the clock once (as a knocker does to see that it is
 * due), optionally warm up (below; its time goes to warm_ns[i] if warm_ns is not NULL), then
 * time PyEval_RestoreThread alone into waits_ns[i] and release again. Call through PyDLL, with
 * no other thread wanting the GIL: every acquisition finds it free.
 *
 * warm is a bit set, for benchmarks/cold_acquire.py (0 for the floor): 1 call
 * PyThread_get_thread_ident and PyGILState_GetThisThreadState (code the acquisition also runs);
 * 2 lock, signal and unlock a private pthread mutex and condition (C library code it runs);
 * 4 read the first lines of PyEval_RestoreThread's code; 8 a whole acquisition and release
 * first (which a knock cannot do: it would be a knock itself). */
void gh_restore_after_sleeps(const int64_t *sleeps_ns, int64_t n, int warm, int64_t *warm_ns,
                             int64_t *waits_ns) {
    static pthread_mutex_t private_mutex = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t private_cond = PTHREAD_COND_INITIALIZER;
    void *tstate = PyEval_SaveThread();
    for (int64_t i = 0; i < n; i++) {
        struct timespec ts = {(time_t)(sleeps_ns[i] / 1000000000LL),
                              (long)(sleeps_ns[i] % 1000000000LL)};
        nanosleep(&ts, 0);
        int64_t w0 = now_ns();
        if (warm & 1) {
            sink = PyThread_get_thread_ident();
            sink = (uintptr_t)PyGILState_GetThisThreadState();
        }
        if (warm & 2) {
            pthread_mutex_lock(&private_mutex);
            pthread_cond_signal(&private_cond);
            pthread_mutex_unlock(&private_mutex);
        }
        if (warm & 4) {
            const volatile char *code = (const volatile char *)(uintptr_t)&PyEval_RestoreThread;
            for (int k = 0; k < 256; k += 64) sink = (uintptr_t)code[k];
        }
        if (warm & 8) {
            PyEval_RestoreThread(tstate);
            tstate = PyEval_SaveThread();
        }
        int64_t t0 = now_ns();
        PyEval_RestoreThread(tstate);
        int64_t t1 = now_ns();
        tstate = PyEval_SaveThread();
        if (warm_ns) warm_ns[i] = t0 - w0;
        waits_ns[i] = t1 - t0;
    }
    PyEval_RestoreThread(tstate);
}
