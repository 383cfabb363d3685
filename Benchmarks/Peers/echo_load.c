/* The load generator of the echo benchmark, the same for every server: CONNECTIONS TCP
 * connections over loopback, each sending one SIZE-byte message and waiting for its whole
 * echo before the next (ping-pong), every byte checked against what was sent. One thread,
 * non-blocking sockets, epoll. After WARMUP seconds it measures for SECONDS: messages,
 * latency percentiles, and the server's CPU time (utime + stime of /proc/PID/stat, all its
 * threads) over exactly that window, and its user-space part (utime).
 *
 * Build: gcc -O2 -o echo_load echo_load.c
 * Run:   echo_load PORT CONNECTIONS SIZE SECONDS WARMUP SERVER_PID
 * Prints one line: key=value pairs (messages, msgs_per_s, p50_us, p99_us, server_cpu_s,
 * cpu_us_per_msg, user_us_per_msg, errors). Exits 1 if any byte differed or a connection failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t sent, received;
    uint64_t seq;
    double started;
};

static size_t size;
static unsigned char *expected_for(uint64_t seq, int id, unsigned char *out) {
    /* A pattern that differs per connection and per message, so a misrouted or stale byte shows. */
    uint32_t x = (uint32_t)(seq * 2654435761u) ^ (uint32_t)(id * 40503u) ^ 0x9e3779b9u;
    for (size_t i = 0; i < size; i++) { x = x * 1103515245u + 12345u; out[i] = (unsigned char)(x >> 16); }
    return out;
}

#include "peer_clock.h"

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: echo_load PORT CONNECTIONS SIZE SECONDS WARMUP SERVER_PID\n"); return 2; }
    int port = atoi(argv[1]), count = atoi(argv[2]);
    size = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]), warmup = atof(argv[5]);
    int pid = atoi(argv[6]);

    struct conn *conns = calloc(count, sizeof *conns);
    unsigned char *message = malloc(size), *incoming = malloc(size), *expected = malloc(size);
    int ep = epoll_create1(0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (connect(fd, (struct sockaddr *)&address, sizeof address)) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        conns[i].fd = fd;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }

    size_t capacity = 1 << 20, recorded = 0;
    double *latencies = malloc(capacity * sizeof *latencies);
    unsigned long long messages = 0, errors = 0;
    double start = now(), measure_from = start + warmup, measure_to = measure_from + seconds;
    double cpu_from = -1, cpu_to = -1, user_from = 0, user_to = 0;
    int measuring = 0;
    /* Each connection starts by sending its first message. */
    for (int i = 0; i < count; i++) conns[i].started = now();

    struct epoll_event events[256];
    while (1) {
        double t = now();
        if (!measuring && t >= measure_from) { measuring = 1; cpu_from = server_cpu(pid, &user_from); messages = 0; recorded = 0; }
        if (measuring && t >= measure_to) { cpu_to = server_cpu(pid, &user_to); break; }
        int n = epoll_wait(ep, events, 256, 10);
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            struct conn *c = &conns[i];
            for (;;) {  /* edge-triggered: drive this connection until it would block */
                int progressed = 0;
                if (c->sent < size) {
                    expected_for(c->seq, i, message);
                    ssize_t w = send(c->fd, message + c->sent, size - c->sent, MSG_NOSIGNAL);
                    if (w > 0) { c->sent += (size_t)w; progressed = 1; }
                    else if (w < 0 && errno != EAGAIN) { perror("send"); return 1; }
                }
                if (c->sent == size) {
                    ssize_t r = recv(c->fd, incoming + c->received, size - c->received, 0);
                    if (r > 0) {
                        expected_for(c->seq, i, expected);
                        if (memcmp(incoming + c->received, expected + c->received, (size_t)r) != 0) errors++;
                        c->received += (size_t)r;
                        progressed = 1;
                    } else if (r == 0) { fprintf(stderr, "connection %d closed by the server\n", i); return 1; }
                    else if (errno != EAGAIN) { perror("recv"); return 1; }
                    if (c->received == size) {
                        double done = now();
                        if (measuring && done < measure_to) {
                            messages++;
                            if (recorded == capacity) { capacity *= 2; latencies = realloc(latencies, capacity * sizeof *latencies); }
                            latencies[recorded++] = done - c->started;
                        }
                        c->seq++;
                        c->sent = c->received = 0;
                        c->started = done;
                        continue;
                    }
                }
                if (!progressed) break;
            }
        }
    }
    qsort(latencies, recorded, sizeof *latencies, compare);
    double p50 = recorded ? latencies[recorded / 2] * 1e6 : 0, p99 = recorded ? latencies[(size_t)(recorded * 0.99)] * 1e6 : 0;
    double cpu = cpu_to - cpu_from, user = user_to - user_from;
    printf("messages=%llu msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f server_cpu_s=%.2f cpu_us_per_msg=%.3f "
           "user_us_per_msg=%.3f errors=%llu\n",
           messages, messages / seconds, p50, p99, cpu, messages ? cpu * 1e6 / messages : 0,
           messages ? user * 1e6 / messages : 0, errors);
    return errors ? 1 : 0;
}
