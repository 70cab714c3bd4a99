/* Where a request comes from when the edge stands behind reverse proxies
 * (a load balancer, a Kubernetes ingress, nginx): the trusted proxies, a
 * list of CIDR ranges, and the client address read from the header they
 * append to, Forwarded (RFC 7239) or X-Forwarded-For. Pure functions.
 *
 * The rule: the TCP peer is the client unless it is a trusted proxy; then
 * the header's hops are walked from the right (the last one was appended
 * by the peer itself), over every trusted address, and the first untrusted
 * one is the client. Hops further left were written by the client and are
 * never believed. A hop that names no address (garbage, "unknown", an
 * obfuscated name) reached in that walk, or a header that cannot be read,
 * makes the peer the client. */
#ifndef EDGE_PROXY_H
#define EDGE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDGE_PROXIES_MAX 32
#define EDGE_HOPS_MAX 32

/* An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
 * are kept as IPv4, so either spelling matches the same ranges. */
typedef struct edge_ip {
	int family;    /* AF_INET, AF_INET6; 0 for no address */
	uint8_t a[16]; /* the first 4 bytes for AF_INET */
} edge_ip;

typedef struct edge_cidr {
	edge_ip net;   /* its host bits zero */
	unsigned bits; /* prefix length: <= 32 (IPv4) or 128 */
} edge_cidr;

typedef struct edge_proxies {
	edge_cidr list[EDGE_PROXIES_MAX];
	size_t n;
} edge_proxies;

/* Which header the trusted proxies append the client to. */
typedef enum edge_ip_header {
	EDGE_IP_HEADER_XFF,      /* X-Forwarded-For */
	EDGE_IP_HEADER_FORWARDED /* Forwarded (RFC 7239), its for= */
} edge_ip_header;

/* The hops of a request's header, in order (the rightmost last). */
typedef struct edge_hops {
	edge_ip list[EDGE_HOPS_MAX]; /* family 0: names no address */
	size_t n;
	bool dropped; /* more hops than fit: the leftmost were dropped */
	bool bad;     /* a header that cannot be read */
} edge_hops;

/* Parses an address: IPv4 dotted decimal or IPv6 text, exactly len bytes
 * of s, no port, no brackets, no zone. Returns 0, or -1 (out zeroed). */
int edge_ip_parse(const char *s, size_t len, edge_ip *out);

/* Writes ip as text ("192.0.2.1", "2001:db8::1") to buf. Returns 0, or -1
 * (buf "" when len > 0) for no address or a buffer too small. */
int edge_ip_format(const edge_ip *ip, char *buf, size_t len);

/* Parses a comma-separated list of ranges ("10.0.0.0/8, 192.168.1.7,
 * fd00::/8"); an address alone is a range of one. A range with host bits
 * set, a prefix out of range, an empty entry or more than EDGE_PROXIES_MAX
 * ranges is an error. "" is the empty list. Returns 0, or -1 with a
 * message in err. */
int edge_proxies_parse(
    edge_proxies *p, const char *csv, char *err, size_t errlen);

/* Whether ip is in one of p's ranges. */
bool edge_proxies_match(const edge_proxies *p, const edge_ip *ip);

/* Adds the hops of one X-Forwarded-For field value ("a, b, c") to h. An
 * item may be an address, "[IPv6]", "[IPv6]:port" or "IPv4:port"; empty
 * items are skipped; anything else is a hop without address. */
void edge_hops_add_xff(edge_hops *h, const char *value);

/* Adds the for= of each element of one Forwarded field value to h
 * (RFC 7239: elements by ",", pairs by ";", values a token or a quoted
 * string; "for" case-insensitive). An element without for=, or with
 * "unknown" or an obfuscated name, is a hop without address; a syntax
 * error or a pair given twice marks h bad. */
void edge_hops_add_forwarded(edge_hops *h, const char *value);

/* The client's address for a request from peer carrying hops h, by the
 * rule above. */
edge_ip edge_client_ip(
    const edge_proxies *p, const edge_ip *peer, const edge_hops *h);

#endif
