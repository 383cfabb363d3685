/* A malloc counter for the benchmarks: preloaded into a server, it counts every allocation
 * call (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) of all its threads in
 * an 8-byte counter shared through the file named by MALLOC_COUNT_FILE, which the benchmark
 * reads before and after a run. It allocates through glibc's own entry points; it counts
 * nothing about sizes and changes nothing else.
 *
 * Build: gcc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
 * Run:   MALLOC_COUNT_FILE=/tmp/count LD_PRELOAD=./malloc_count.so SERVER ... */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic unsigned long long *counter;
static _Atomic unsigned long long early;  /* before the file is mapped */

__attribute__((constructor)) static void map_counter(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (!path) return;
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, 8) == 0) {
        void *p = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            counter = p;
            atomic_store(counter, atomic_load(&early));
        }
    }
    close(fd);
}

static inline void count(void) {
    if (counter) atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    else atomic_fetch_add_explicit(&early, 1, memory_order_relaxed);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { count(); return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    count();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
