/*
 * tcpfloor: the least a connect()-based TCP handshake prober can cost, for bench/probe to print beside
 * varde and fping. It makes the same system calls per handshake as varde's TCP engine (socket,
 * SO_LINGER 0, non-blocking connect, epoll for completion, TCP_INFO, close with a reset), paced the same
 * way (target i, round k at k*1s + i*stagger, stagger = min(1s/targets, 1ms)), and nothing else: no
 * output, no statistics, no runtime. Its CPU is the least a prober doing only the handshakes pays,
 * wake-ups included. It also sums the thread CPU time spent in the per-handshake system calls alone
 * (CLOCK_THREAD_CPUTIME_ID around them): the part a prober that also sends echoes cannot share with
 * them, whatever it does about wake-ups.
 *
 * Usage: tcpfloor TARGETS-FILE PORT ROUNDS   (one IPv4 or IPv6 address per line)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXT 100000

static struct sockaddr_storage addr[MAXT];
static socklen_t alen[MAXT];

static long long clk(clockid_t id) {
	struct timespec t;
	clock_gettime(id, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static long long now(void) { return clk(CLOCK_MONOTONIC); }
static long long cpu(void) { return clk(CLOCK_THREAD_CPUTIME_ID); }

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: tcpfloor TARGETS-FILE PORT ROUNDS\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	int port = atoi(argv[2]), rounds = atoi(argv[3]), n = 0;
	char line[256];
	while (fgets(line, sizeof line, f) && n < MAXT) {
		line[strcspn(line, "\r\n")] = 0;
		struct sockaddr_in *s4 = (struct sockaddr_in *)&addr[n];
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr[n];
		if (inet_pton(AF_INET, line, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET, s4->sin_port = htons(port), alen[n++] = sizeof *s4;
		} else if (inet_pton(AF_INET6, line, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6, s6->sin6_port = htons(port), alen[n++] = sizeof *s6;
		} else if (line[0]) {
			fprintf(stderr, "%s: not an address: %s\n", argv[1], line);
			return 2;
		}
	}
	if (n == 0 || rounds < 1 || port < 1 || port > 65535) {
		fprintf(stderr, "tcpfloor: need targets, a port and rounds >= 1\n");
		return 2;
	}
	long long stagger = 1000000000LL / n;
	if (stagger > 1000000LL)
		stagger = 1000000LL;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int total = n * rounds, sent = 0, done = 0, ok = 0;
	long long start = now(), rttsum = 0, syscpu = 0;
	struct epoll_event evs[128];
#define AT(j) (start + (long long)((j) / n) * 1000000000LL + (long long)((j) % n) * stagger)
	while (done < total) {
		long long t = now();
		for (; sent < total && AT(sent) <= t; sent++) {
			int i = sent % n;
			long long c0 = cpu();
			int fd = socket(addr[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			struct linger l = {1, 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
			connect(fd, (struct sockaddr *)&addr[i], alen[i]);
			struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			syscpu += cpu() - c0;
		}
		long long wake = sent < total ? AT(sent) : now() + 1000000000LL, d = wake - now();
		if (d < 0)
			d = 0;
		struct timespec ts = {d / 1000000000LL, d % 1000000000LL};
		int m = epoll_pwait2(ep, evs, 128, &ts, NULL);
		for (int j = 0; j < m; j++) {
			int fd = evs[j].data.fd;
			long long c0 = cpu();
			struct tcp_info ti;
			socklen_t sl = sizeof ti;
			/* CLOSE_WAIT: connected, and the peer (a listener that accepts and closes) already hung up. */
			if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) == 0 &&
			    (ti.tcpi_state == TCP_ESTABLISHED || ti.tcpi_state == TCP_CLOSE_WAIT))
				ok++, rttsum += ti.tcpi_rtt;
			close(fd);
			syscpu += cpu() - c0;
			done++;
		}
	}
	printf("%d handshakes, %d established, mean tcpi_rtt %lld us, system calls %lld ns CPU\n", total, ok,
	       ok ? rttsum / ok : 0, syscpu);
	if (ok != total) {
		fprintf(stderr, "tcpfloor: %d of %d handshakes did not connect\n", total - ok, total);
		return 1;
	}
	return 0;
}
