/* Why a knock after a long sleep costs microseconds on a free GIL: CPython's GIL acquisition
 * timed alone after each sleep, with optional warm-ups before the timed part. Compiled and run
 * by benchmarks/cold_acquire.py (a one-off experiment, not part of run.py).
 *
 * warm is a bit set: 1 call PyThread_get_thread_ident and PyGILState_GetThisThreadState (code
 * the acquisition also runs); 2 lock, signal and unlock a private pthread mutex/condition (the
 * C library code it runs); 4 read the first lines of PyEval_RestoreThread's code; 8 a whole
 * acquisition and release before the timed one (what a knock must not do: it is a knock).
 */
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static volatile uintptr_t sink;
static pthread_mutex_t private_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t private_cond = PTHREAD_COND_INITIALIZER;

typedef struct {
    int64_t sleep_ns, n;
    int warm;
    int64_t *warm_ns, *acquire_ns;
} job_t;

static void *run(void *arg) {
    job_t *job = arg;
    PyGILState_STATE gstate = PyGILState_Ensure();
    PyThreadState *tstate = PyEval_SaveThread();
    for (int64_t i = 0; i < job->n; i++) {
        struct timespec s = {(time_t)(job->sleep_ns / 1000000000LL),
                             (long)(job->sleep_ns % 1000000000LL)};
        nanosleep(&s, NULL);
        (void)now_ns();
        (void)Py_IsInitialized();
        int64_t w0 = now_ns();
        if (job->warm & 1) {
            sink = PyThread_get_thread_ident();
            sink = (uintptr_t)PyGILState_GetThisThreadState();
        }
        if (job->warm & 2) {
            pthread_mutex_lock(&private_mutex);
            pthread_cond_signal(&private_cond);
            pthread_mutex_unlock(&private_mutex);
        }
        if (job->warm & 4) {
            const volatile char *code = (const volatile char *)(void *)&PyEval_RestoreThread;
            for (int k = 0; k < 256; k += 64) sink = code[k];
        }
        if (job->warm & 8) {
            PyEval_RestoreThread(tstate);
            tstate = PyEval_SaveThread();
        }
        int64_t t0 = now_ns();
        PyEval_RestoreThread(tstate);
        int64_t t1 = now_ns();
        tstate = PyEval_SaveThread();
        job->warm_ns[i] = t0 - w0;
        job->acquire_ns[i] = t1 - t0;
    }
    PyEval_RestoreThread(tstate);
    PyGILState_Release(gstate);
    return NULL;
}

/* Runs in a new thread; call through ctypes.CDLL (the caller's thread releases the GIL). */
int ca_measure(int64_t sleep_ns, int64_t n, int warm, int64_t *warm_ns, int64_t *acquire_ns) {
    job_t job = {sleep_ns, n, warm, warm_ns, acquire_ns};
    pthread_t thread;
    if (pthread_create(&thread, NULL, run, &job) != 0) return -1;
    pthread_join(thread, NULL);
    return 0;
}
