/* The C peer for the echo benchmark: a TCP echo server on liburing, written the way a
 * careful C programmer would: one ring, a multishot accept, a multishot receive per
 * connection into a shared provided-buffer ring (1024 x 16 KiB, as `spool echo`), a send per
 * received buffer, and the buffer back to the ring when its send completes.
 *
 * Build: gcc -O2 -o echo_uring echo_uring.c -luring   (Debian: apt-get install liburing-dev)
 * Run:   echo_uring [PORT]    prints "listening on 127.0.0.1:PORT"; stops on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFERS 1024
#define BUFFER_SIZE (16 * 1024)
#define GROUP 0

enum kind { ACCEPT = 1, RECV = 2, SEND = 3 };

/* user_data: kind in bits 56..63, buffer id in 32..47, descriptor in 0..31 */
static inline __u64 tag(enum kind k, int fd, int bid) {
    return ((__u64)k << 56) | ((__u64)(unsigned)bid << 32) | (unsigned)fd;
}

static struct io_uring ring;
static struct io_uring_buf_ring *buffer_ring;
static char *buffers;
static struct { int fd; int offset; int length; } pending[BUFFERS]; /* a send in flight per buffer */
static volatile sig_atomic_t stop;

static void on_signal(int s) { (void)s; stop = 1; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *e = io_uring_get_sqe(&ring);
    if (!e) { io_uring_submit(&ring); e = io_uring_get_sqe(&ring); }
    return e;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *e = sqe();
    io_uring_prep_recv_multishot(e, fd, NULL, 0, 0);
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = GROUP;
    io_uring_sqe_set_data64(e, tag(RECV, fd, 0));
}

static void send_buffer(int bid) {
    struct io_uring_sqe *e = sqe();
    io_uring_prep_send(e, pending[bid].fd, buffers + (size_t)bid * BUFFER_SIZE + pending[bid].offset,
                       pending[bid].length - pending[bid].offset, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(e, tag(SEND, pending[bid].fd, bid));
}

static void recycle(int bid) {
    io_uring_buf_ring_add(buffer_ring, buffers + (size_t)bid * BUFFER_SIZE, BUFFER_SIZE, bid,
                          io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct io_uring_params params = {0};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = 8192;
    if (io_uring_queue_init_params(1024, &ring, &params) < 0) {
        params.flags = IORING_SETUP_CQSIZE;  /* older kernels */
        if (io_uring_queue_init_params(1024, &ring, &params) < 0) { perror("io_uring_queue_init"); return 1; }
    }

    if (posix_memalign((void **)&buffer_ring, 4096, BUFFERS * sizeof(struct io_uring_buf))) return 1;
    io_uring_buf_ring_init(buffer_ring);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)buffer_ring, .ring_entries = BUFFERS, .bgid = GROUP };
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) { fprintf(stderr, "register_buf_ring failed\n"); return 1; }
    buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
    for (int i = 0; i < BUFFERS; i++)
        io_uring_buf_ring_add(buffer_ring, buffers + (size_t)i * BUFFER_SIZE, BUFFER_SIZE, i, io_uring_buf_ring_mask(BUFFERS), i);
    io_uring_buf_ring_advance(buffer_ring, BUFFERS);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 511)) { perror("bind/listen"); return 1; }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    struct io_uring_sqe *e = sqe();
    io_uring_prep_multishot_accept(e, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(e, tag(ACCEPT, listener, 0));

    while (!stop) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) { fprintf(stderr, "submit_and_wait: %s\n", strerror(-r)); break; }
        struct io_uring_cqe *c;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, c) {
            seen++;
            __u64 data = c->user_data;
            enum kind k = (enum kind)(data >> 56);
            int fd = (int)(data & 0xffffffff);
            int bid = (int)((data >> 32) & 0xffff);
            if (k == ACCEPT) {
                if (c->res >= 0) {
                    setsockopt(c->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(c->res);
                }
                if (!(c->flags & IORING_CQE_F_MORE)) {
                    struct io_uring_sqe *a = sqe();
                    io_uring_prep_multishot_accept(a, listener, NULL, NULL, SOCK_CLOEXEC);
                    io_uring_sqe_set_data64(a, tag(ACCEPT, listener, 0));
                }
            } else if (k == RECV) {
                if (c->res > 0 && (c->flags & IORING_CQE_F_BUFFER)) {
                    int b = c->flags >> IORING_CQE_BUFFER_SHIFT;
                    pending[b].fd = fd;
                    pending[b].offset = 0;
                    pending[b].length = c->res;
                    send_buffer(b);
                }
                if (!(c->flags & IORING_CQE_F_MORE)) {
                    if (c->res == 0 || (c->res < 0 && c->res != -ENOBUFS)) close(fd);
                    else arm_recv(fd);
                }
            } else if (k == SEND) {
                if (c->res > 0 && pending[bid].offset + c->res < pending[bid].length) {
                    pending[bid].offset += c->res;  /* short send: the rest */
                    send_buffer(bid);
                } else {
                    recycle(bid);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
