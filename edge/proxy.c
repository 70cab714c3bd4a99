/* Trusted proxies and the client address behind them; see proxy.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "proxy.h"

/* Longer than any address with a port and brackets. */
#define ADDR_TEXT_MAX 64
/* A Forwarded value (after unquoting) longer than this is refused. */
#define VALUE_MAX 256

static const uint8_t v4_mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
edge_ip_parse(const char *s, size_t len, edge_ip *out)
{
	char buf[ADDR_TEXT_MAX];
	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL) {
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, out->a) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->a) != 1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->family = AF_INET6;
	if (memcmp(out->a, v4_mapped, sizeof(v4_mapped)) == 0) {
		memmove(out->a, out->a + 12, 4);
		memset(out->a + 4, 0, 12);
		out->family = AF_INET;
	}
	return 0;
}

int
edge_ip_format(const edge_ip *ip, char *buf, size_t len)
{
	if (len > 0) {
		buf[0] = '\0';
	}
	if ((ip->family != AF_INET && ip->family != AF_INET6) ||
	    inet_ntop(ip->family, ip->a, buf, (socklen_t) len) == NULL) {
		if (len > 0) {
			buf[0] = '\0';
		}
		return -1;
	}
	return 0;
}

/* ---- Trusted ranges ----------------------------------------------------- */

/* Whether the first bits bits of a and b are equal. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, whole) != 0) {
		return false;
	}
	if (rest == 0) {
		return true;
	}
	uint8_t mask = (uint8_t) (0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Whether the bits after the first bits of ip are all zero. */
static bool
host_bits_zero(const edge_ip *ip, unsigned bits)
{
	unsigned total = ip->family == AF_INET ? 32 : 128;
	for (unsigned i = bits; i < total; i++) {
		if (ip->a[i / 8] & (0x80 >> (i % 8))) {
			return false;
		}
	}
	return true;
}

/* Parses a prefix length of 1 to 3 digits no larger than max. */
static int
parse_bits(const char *s, size_t len, unsigned max, unsigned *bits)
{
	unsigned v = 0;
	if (len == 0 || len > 3) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	if (v > max) {
		return -1;
	}
	*bits = v;
	return 0;
}

/* Parses one range, s[0..len) without surrounding blanks. */
static int
parse_cidr(const char *s, size_t len, edge_cidr *c, char *err, size_t errlen)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t) (slash - s) : len;
	if (edge_ip_parse(s, alen, &c->net) != 0) {
		snprintf(err, errlen, "\"%.*s\" is not an IP address or range",
		    (int) (len > 64 ? 64 : len), s);
		return -1;
	}
	/* An IPv4-mapped range written as IPv6 counts its bits from 96. */
	bool mapped = c->net.family == AF_INET && memchr(s, ':', alen);
	unsigned max = c->net.family == AF_INET && !mapped ? 32 : 128;
	c->bits = max;
	if (slash != NULL &&
	    (parse_bits(slash + 1, len - alen - 1, max, &c->bits) != 0 ||
	        (mapped && c->bits < 96))) {
		snprintf(err, errlen,
		    "\"%.*s\": the prefix length must be a number from "
		    "%u to %u",
		    (int) (len > 64 ? 64 : len), s, mapped ? 96u : 0u, max);
		return -1;
	}
	if (mapped) {
		c->bits -= 96;
	}
	if (!host_bits_zero(&c->net, c->bits)) {
		snprintf(err, errlen,
		    "\"%.*s\" has bits set after its prefix (a range starts "
		    "at its first address)",
		    (int) (len > 64 ? 64 : len), s);
		return -1;
	}
	return 0;
}

/* Whether c is a blank (space or tab). */
static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

int
edge_proxies_parse(edge_proxies *p, const char *csv, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	const char *s = csv;
	while (blank(*s)) {
		s++;
	}
	if (*s == '\0') {
		return 0;
	}
	for (;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma != NULL ? comma : s + strlen(s);
		const char *a = s, *b = end;
		while (a < b && blank(*a)) {
			a++;
		}
		while (b > a && blank(b[-1])) {
			b--;
		}
		if (a == b) {
			snprintf(err, errlen, "an empty entry in the list");
			return -1;
		}
		if (p->n == EDGE_PROXIES_MAX) {
			snprintf(err, errlen, "at most %d ranges",
			    EDGE_PROXIES_MAX);
			return -1;
		}
		if (parse_cidr(a, (size_t) (b - a), &p->list[p->n], err,
		        errlen) != 0) {
			return -1;
		}
		p->n++;
		if (comma == NULL) {
			return 0;
		}
		s = comma + 1;
	}
}

bool
edge_proxies_match(const edge_proxies *p, const edge_ip *ip)
{
	for (size_t i = 0; i < p->n; i++) {
		const edge_cidr *c = &p->list[i];
		if (c->net.family == ip->family &&
		    prefix_equal(c->net.a, ip->a, c->bits)) {
			return true;
		}
	}
	return false;
}

/* ---- Hops --------------------------------------------------------------- */

static void
hops_push(edge_hops *h, const edge_ip *ip)
{
	if (h->n == EDGE_HOPS_MAX) {
		/* Only the right end matters: drop the leftmost. */
		memmove(h->list, h->list + 1,
		    (EDGE_HOPS_MAX - 1) * sizeof(h->list[0]));
		h->n--;
		h->dropped = true;
	}
	h->list[h->n++] = *ip;
}

/* Whether s[0..len) is a port: digits, or an obfuscated port ("_x"). */
static bool
port_ok(const char *s, size_t len)
{
	if (len == 0 || len > 32) {
		return false;
	}
	bool obf = s[0] == '_';
	long v = 0;
	for (size_t i = obf ? 1 : 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];
		if (!(isdigit(c) || (obf && (isalnum(c) || c == '.' ||
		                                c == '_' || c == '-')))) {
			return false;
		}
		v = v < 100000 ? v * 10 + (c - '0') : v;
	}
	return obf ? len > 1 : v <= 65535;
}

/* Reads a node ("192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:80", a bare
 * IPv6 address) from s[0..len) into ip; family 0 when it names no
 * address. */
static void
node_addr(const char *s, size_t len, edge_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		size_t after =
		    close != NULL ? len - (size_t) (close - s) - 1 : 0;
		if (close == NULL ||
		    (after > 0 &&
		        (close[1] != ':' || !port_ok(close + 2, after - 1))) ||
		    edge_ip_parse(s + 1, (size_t) (close - s) - 1, ip) != 0 ||
		    ip->family != AF_INET6) {
			memset(ip, 0, sizeof(*ip));
		}
		return;
	}
	const char *colon = memchr(s, ':', len);
	bool one_colon =
	    colon != NULL &&
	    memchr(colon + 1, ':', len - (size_t) (colon - s) - 1) == NULL;
	if (one_colon) {
		size_t alen = (size_t) (colon - s);
		if (!port_ok(colon + 1, len - alen - 1) ||
		    edge_ip_parse(s, alen, ip) != 0 || ip->family != AF_INET) {
			memset(ip, 0, sizeof(*ip));
		}
		return;
	}
	(void) edge_ip_parse(s, len, ip); /* "unknown", "_obf": no address */
}

void
edge_hops_add_xff(edge_hops *h, const char *value)
{
	const char *s = value;
	for (;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma != NULL ? comma : s + strlen(s);
		const char *a = s, *b = end;
		while (a < b && blank(*a)) {
			a++;
		}
		while (b > a && blank(b[-1])) {
			b--;
		}
		if (a < b) {
			edge_ip ip;
			node_addr(a, (size_t) (b - a), &ip);
			hops_push(h, &ip);
		}
		if (comma == NULL) {
			return;
		}
		s = comma + 1;
	}
}

/* RFC 9110 tchar. */
static bool
tchar(char c)
{
	return isalnum((unsigned char) c) ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Reads a token or a quoted string at *pp into out (unquoted, NUL
 * terminated, VALUE_MAX bytes). Returns its length, or -1. */
static int
read_value(const char **pp, char *out)
{
	const char *p = *pp;
	size_t n = 0;
	if (*p != '"') {
		while (tchar(*p) && n + 1 < VALUE_MAX) {
			out[n++] = *p++;
		}
		if (n == 0 || tchar(*p)) {
			return -1;
		}
	} else {
		for (p++; *p != '"'; p++) {
			if (*p == '\\') {
				p++;
			}
			unsigned char c = (unsigned char) *p;
			if (c == '\0' || (c < 0x20 && c != '\t') ||
			    c == 0x7f || n + 1 >= VALUE_MAX) {
				return -1;
			}
			out[n++] = *p;
		}
		p++;
	}
	out[n] = '\0';
	*pp = p;
	return (int) n;
}

/* Reads one element's pairs at *pp up to its "," or the end into hop (its
 * for=, or no address). Returns 0, or -1 for a syntax error. */
static int
forwarded_element(const char **pp, edge_ip *hop)
{
	const char *p = *pp;
	bool seen_for = false;
	memset(hop, 0, sizeof(*hop));
	for (;;) {
		while (blank(*p) || *p == ';') {
			p++;
		}
		if (*p == ',' || *p == '\0') {
			break;
		}
		const char *name = p;
		while (tchar(*p)) {
			p++;
		}
		size_t nlen = (size_t) (p - name);
		char v[VALUE_MAX];
		int vlen;
		if (nlen == 0 || *p++ != '=' ||
		    (vlen = read_value(&p, v)) < 0) {
			return -1;
		}
		if (nlen == 3 && strncasecmp(name, "for", 3) == 0) {
			if (seen_for) {
				return -1;
			}
			seen_for = true;
			node_addr(v, (size_t) vlen, hop);
		}
		while (blank(*p)) {
			p++;
		}
		if (*p != ';' && *p != ',' && *p != '\0') {
			return -1;
		}
	}
	*pp = p;
	return 0;
}

void
edge_hops_add_forwarded(edge_hops *h, const char *value)
{
	const char *p = value;
	for (;;) {
		while (blank(*p) || *p == ',') {
			p++;
		}
		if (*p == '\0') {
			return;
		}
		edge_ip hop;
		if (forwarded_element(&p, &hop) != 0) {
			h->bad = true;
			return;
		}
		hops_push(h, &hop);
	}
}

edge_ip
edge_client_ip(const edge_proxies *p, const edge_ip *peer, const edge_hops *h)
{
	if (!edge_proxies_match(p, peer) || h->bad) {
		return *peer;
	}
	for (size_t i = h->n; i-- > 0;) {
		const edge_ip *hop = &h->list[i];
		if (hop->family == 0) {
			return *peer;
		}
		if (!edge_proxies_match(p, hop)) {
			return *hop;
		}
	}
	/* Trusted all the way: the leftmost hop, when it is the first. */
	return h->n > 0 && !h->dropped ? h->list[0] : *peer;
}
