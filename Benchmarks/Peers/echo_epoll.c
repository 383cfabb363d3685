/* The C peer for the portable-backend echo benchmark: a TCP echo server on epoll, written
 * the way a careful C programmer would: one thread, non-blocking sockets, edge-triggered epoll
 * registered once per connection, read until EAGAIN into one 16 KiB buffer, write it back
 * (what the peer's window does not take waits in a per-connection buffer for EPOLLOUT).
 *
 * Build: gcc -O2 -o echo_epoll echo_epoll.c
 * Run:   echo_epoll [PORT]    prints "listening on 127.0.0.1:PORT"; stops on SIGINT/SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE (16 * 1024)

struct connection {
    int fd;
    char *pending;          /* bytes the peer's window did not take yet */
    size_t pending_length, pending_capacity;
};

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static void drop(int epfd, struct connection *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

/* Writes what is pending; returns -1 if the connection failed. */
static int flush(struct connection *c) {
    while (c->pending_length > 0) {
        ssize_t n = write(c->fd, c->pending, c->pending_length);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        memmove(c->pending, c->pending + n, c->pending_length - (size_t)n);
        c->pending_length -= (size_t)n;
    }
    return 0;
}

static int queue(struct connection *c, const char *bytes, size_t length) {
    if (c->pending_length + length > c->pending_capacity) {
        size_t capacity = (c->pending_length + length) * 2;
        char *grown = realloc(c->pending, capacity);
        if (!grown) return -1;
        c->pending = grown;
        c->pending_capacity = capacity;
    }
    memcpy(c->pending + c->pending_length, bytes, length);
    c->pending_length += length;
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 0) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1024) < 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data = { .ptr = NULL } };
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    static char buffer[BUFFER_SIZE];
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(epfd, events, 256, 100);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            struct connection *c = events[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct connection *fresh = calloc(1, sizeof *fresh);
                    fresh->fd = fd;
                    struct epoll_event cev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data = { .ptr = fresh } };
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            int failed = 0;
            if (events[i].events & EPOLLOUT) failed = flush(c) < 0;
            if (!failed && (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    ssize_t r = read(c->fd, buffer, sizeof buffer);
                    if (r < 0) { failed = errno != EAGAIN; break; }
                    if (r == 0) { failed = 1; break; }
                    if (c->pending_length == 0) {
                        ssize_t w = write(c->fd, buffer, (size_t)r);
                        if (w < 0 && errno != EAGAIN) { failed = 1; break; }
                        if (w < 0) w = 0;
                        if (w < r && queue(c, buffer + w, (size_t)(r - w)) < 0) { failed = 1; break; }
                    } else if (queue(c, buffer, (size_t)r) < 0) { failed = 1; break; }
                    if ((size_t)r < sizeof buffer) break;  /* a short read: the socket is drained */
                }
            }
            if (failed) drop(epfd, c);
        }
    }
    return 0;
}
