/* The load generator of the connection-setup benchmark, the same for every server: THREADS
 * threads, each in a loop of connect, one SIZE-byte message, its whole echo (every byte
 * checked), close. Blocking sockets, TCP_NODELAY; the client closes first, so its side holds
 * TIME_WAIT (Linux reuses those ports for loopback connects: net.ipv4.tcp_tw_reuse = 2, the
 * default). After WARMUP seconds it measures for SECONDS: connections completed, and the
 * server's CPU time (utime + stime of /proc/PID/stat, all its threads) over exactly that
 * window, and its user-space part.
 *
 * Build: gcc -O2 -pthread -o connect_load connect_load.c
 * Run:   connect_load PORT THREADS SIZE SECONDS WARMUP SERVER_PID
 * Prints one line: key=value pairs (connections, conns_per_s, server_cpu_s, cpu_us_per_conn,
 * user_us_per_conn, total: every connection including the warm-up's, errors). Exits 1 if any byte differed or a connection failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static size_t size;
static atomic_int phase;              /* 0 warm-up, 1 measuring, 2 stop */
static atomic_ullong measured, total, errors;

#include "peer_clock.h"

static void *client(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    unsigned char *message = malloc(size), *incoming = malloc(size);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    uint32_t x = 0x9e3779b9u ^ id * 40503u;
    while (atomic_load(&phase) < 2) {
        for (size_t i = 0; i < size; i++) { x = x * 1103515245u + 12345u; message[i] = (unsigned char)(x >> 16); }
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0) { perror("socket"); exit(1); }
        if (connect(fd, (struct sockaddr *)&address, sizeof address)) {
            if (errno == EADDRNOTAVAIL) { close(fd); usleep(1000); continue; }  /* out of ports for a moment */
            perror("connect");
            exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        size_t sent = 0, received = 0;
        while (sent < size) {
            ssize_t w = send(fd, message + sent, size - sent, MSG_NOSIGNAL);
            if (w <= 0) { perror("send"); exit(1); }
            sent += (size_t)w;
        }
        while (received < size) {
            ssize_t r = recv(fd, incoming + received, size - received, 0);
            if (r == 0) { fprintf(stderr, "the server closed before its echo\n"); exit(1); }
            if (r < 0) { perror("recv"); exit(1); }
            received += (size_t)r;
        }
        if (memcmp(incoming, message, size) != 0) atomic_fetch_add(&errors, 1);
        close(fd);
        atomic_fetch_add(&total, 1);
        if (atomic_load(&phase) == 1) atomic_fetch_add(&measured, 1);
    }
    free(message);
    free(incoming);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: connect_load PORT THREADS SIZE SECONDS WARMUP SERVER_PID\n"); return 2; }
    port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    size = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]), warmup = atof(argv[5]);
    int pid = atoi(argv[6]);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, client, (void *)(uintptr_t)i);
    usleep((useconds_t)(warmup * 1e6));
    double user_from = 0, user_to = 0;
    double cpu_from = server_cpu(pid, &user_from), t0 = now();
    atomic_store(&phase, 1);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&phase, 2);
    double cpu_to = server_cpu(pid, &user_to), t1 = now();
    unsigned long long n = atomic_load(&measured);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double cpu = cpu_to - cpu_from, user = user_to - user_from, elapsed = t1 - t0;
    unsigned long long bad = atomic_load(&errors);
    printf("connections=%llu conns_per_s=%.0f server_cpu_s=%.2f cpu_us_per_conn=%.3f user_us_per_conn=%.3f total=%llu errors=%llu\n",
           n, n / elapsed, cpu, n ? cpu * 1e6 / n : 0, n ? user * 1e6 / n : 0, atomic_load(&total), bad);
    return bad ? 1 : 0;
}
