/* Raw TCP echo, the baseline for the RPC core's benchmark:
 *   tcp_echo server PORT
 *   tcp_echo client PORT CALLERS SECONDS [PAYLOAD_BYTES]
 * The server runs a thread per connection; each client thread has its own
 * connection and sends a 4-byte length plus payload, then reads the echo.
 * No envelope, no decoding: the floor for a request/reply over loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

static int
full(int fd, void *buf, size_t n, int write_it)
{
	char *p = buf;
	while (n > 0) {
		ssize_t k = write_it ? write(fd, p, n) : read(fd, p, n);
		if (k <= 0) {
			return -1;
		}
		p += k;
		n -= (size_t) k;
	}
	return 0;
}

static void *
serve_conn(void *arg)
{
	int fd = (int) (intptr_t) arg;
	char buf[65536];
	uint32_t len;
	while (full(fd, &len, 4, 0) == 0) {
		uint32_t n = ntohl(len);
		if (n > sizeof(buf) || full(fd, buf, n, 0) != 0 ||
		    full(fd, &len, 4, 1) != 0 || full(fd, buf, n, 1) != 0) {
			break;
		}
	}
	close(fd);
	return NULL;
}

static int
server(int port)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t) port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    listen(ls, 128) != 0) {
		perror("listen");
		return 1;
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0) {
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		pthread_create(&t, NULL, serve_conn, (void *) (intptr_t) fd);
		pthread_detach(t);
	}
}

typedef struct worker {
	int port;
	size_t size;
	atomic_bool *stop;
	hist h;
	uint64_t errors;
} worker;

static void *
run(void *arg)
{
	worker *w = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t) w->port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
		w->errors++;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char buf[65536] = {0};
	uint32_t len = htonl((uint32_t) w->size);
	while (!atomic_load(w->stop)) {
		int64_t t0 = now_ns();
		uint32_t rlen;
		if (full(fd, &len, 4, 1) != 0 ||
		    full(fd, buf, w->size, 1) != 0 ||
		    full(fd, &rlen, 4, 0) != 0 ||
		    full(fd, buf, ntohl(rlen), 0) != 0) {
			w->errors++;
			break;
		}
		hist_add(&w->h, now_ns() - t0);
	}
	close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "server") == 0) {
		return server((int) strtol(argv[2], NULL, 10));
	}
	if (argc < 5 || strcmp(argv[1], "client") != 0) {
		fprintf(stderr,
		    "usage: %s server PORT | client PORT CALLERS SECONDS "
		    "[PAYLOAD_BYTES]\n",
		    argv[0]);
		return 2;
	}
	int port = (int) strtol(argv[2], NULL, 10);
	int callers = (int) strtol(argv[3], NULL, 10);
	int seconds = (int) strtol(argv[4], NULL, 10);
	size_t size = argc > 5 ? (size_t) strtol(argv[5], NULL, 10) : 64;
	atomic_bool stop = false;
	worker *w = calloc((size_t) callers, sizeof(*w));
	pthread_t *t = calloc((size_t) callers, sizeof(*t));
	for (int i = 0; i < callers; i++) {
		w[i] = (worker){.port = port, .size = size, .stop = &stop};
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	int64_t t0 = now_ns();
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	static hist all;
	uint64_t errors = 0;
	for (int i = 0; i < callers; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&all, &w[i].h);
		errors += w[i].errors;
	}
	double secs = (double) (now_ns() - t0) / 1e9;
	printf("tcp callers=%d calls_per_s=%.0f p50_us=%.0f p99_us=%.0f "
	       "p999_us=%.0f errors=%llu calls=%llu\n",
	    callers, (double) all.n / secs, hist_quantile(&all, 0.5),
	    hist_quantile(&all, 0.99), hist_quantile(&all, 0.999),
	    (unsigned long long) errors, (unsigned long long) all.n);
	free(w);
	free(t);
	return errors > 0;
}
