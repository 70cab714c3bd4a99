/* The client address behind trusted proxies: addresses, CIDR ranges,
 * X-Forwarded-For and Forwarded parsing, and the rightmost-untrusted-hop
 * rule, with bad input of every kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "proxy.h"

/* s parsed and formatted back. */
static const char *
roundtrip(const char *s)
{
	static char buf[64];
	edge_ip ip;
	if (edge_ip_parse(s, strlen(s), &ip) != 0) {
		return "(bad)";
	}
	assert_int_equal(edge_ip_format(&ip, buf, sizeof(buf)), 0);
	return buf;
}

static void
test_ip_parse(void **state)
{
	(void) state;
	assert_string_equal(roundtrip("192.0.2.1"), "192.0.2.1");
	assert_string_equal(roundtrip("0.0.0.0"), "0.0.0.0");
	assert_string_equal(roundtrip("2001:DB8::1"), "2001:db8::1");
	assert_string_equal(roundtrip("::1"), "::1");
	/* IPv4-mapped IPv6 is the IPv4 address. */
	assert_string_equal(roundtrip("::ffff:192.0.2.9"), "192.0.2.9");
	const char *bad[] = {"", " 192.0.2.1", "192.0.2.1 ", "192.0.2",
	    "192.0.2.256", "192.0.2.1:80", "[::1]", "::1%eth0", "01.2.3.4",
	    "unknown", "_hidden", "1.2.3.4.5", "::g", "-1.2.3.4",
	    "0x7f.0.0.1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_string_equal(roundtrip(bad[i]), "(bad)");
	}
	/* Exactly len bytes: a NUL inside, or a text too long. */
	edge_ip ip;
	assert_int_equal(edge_ip_parse("1.2.3.4\0", 8, &ip), -1);
	assert_int_equal(edge_ip_parse("1.2.3.4xyz", 7, &ip), 0);
	char lng[200];
	memset(lng, '1', sizeof(lng));
	assert_int_equal(edge_ip_parse(lng, sizeof(lng), &ip), -1);
	assert_int_equal(ip.family, 0);
	/* Formatting: no address, a buffer too small. */
	char buf[8];
	edge_ip none = {0};
	assert_int_equal(edge_ip_format(&none, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
	assert_int_equal(edge_ip_parse("2001:db8::1", 11, &ip), 0);
	assert_int_equal(edge_ip_format(&ip, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
}

/* Whether address s is in the ranges of csv. */
static bool
in(const char *csv, const char *s)
{
	edge_proxies p;
	char err[256];
	edge_ip ip;
	assert_int_equal(edge_proxies_parse(&p, csv, err, sizeof(err)), 0);
	assert_int_equal(edge_ip_parse(s, strlen(s), &ip), 0);
	return edge_proxies_match(&p, &ip);
}

static void
test_cidr_match(void **state)
{
	(void) state;
	assert_true(in("10.0.0.0/8", "10.255.255.255"));
	assert_false(in("10.0.0.0/8", "11.0.0.0"));
	assert_false(in("10.0.0.0/8", "9.255.255.255"));
	assert_true(in("192.168.1.7", "192.168.1.7"));
	assert_false(in("192.168.1.7", "192.168.1.6"));
	assert_true(in("172.16.0.0/12", "172.31.200.1"));
	assert_false(in("172.16.0.0/12", "172.32.0.1"));
	assert_true(in("192.0.2.128/25", "192.0.2.255"));
	assert_false(in("192.0.2.128/25", "192.0.2.127"));
	assert_true(in("0.0.0.0/0", "203.0.113.5"));
	assert_false(in("0.0.0.0/0", "2001:db8::1")); /* families apart */
	assert_true(in("::/0", "2001:db8::1"));
	assert_false(in("::/0", "203.0.113.5"));
	assert_true(in("fd00::/8", "fdff:ffff::1"));
	assert_false(in("fd00::/8", "fe00::1"));
	assert_true(in("2001:db8:0:2::/63", "2001:db8:0:3:ffff::"));
	assert_false(in("2001:db8:0:2::/63", "2001:db8:0:1::"));
	assert_false(in("2001:db8:0:2::/63", "2001:db8:0:4::"));
	assert_true(in("::1", "::1"));
	assert_true(in("::1/128", "::1"));
	/* A mapped address matches IPv4 ranges, and a mapped range IPv4. */
	assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_true(in("::ffff:10.0.0.0/104", "10.1.2.3"));
	assert_false(in("::ffff:10.0.0.0/104", "11.1.2.3"));
	/* Lists, with blanks. */
	assert_true(in(" 10.0.0.0/8 ,\t::1 , 192.168.0.0/16", "192.168.3.4"));
	assert_true(in(" 10.0.0.0/8 ,\t::1 , 192.168.0.0/16", "::1"));
	assert_false(in(" 10.0.0.0/8 ,\t::1 , 192.168.0.0/16", "::2"));
	assert_false(in("", "10.0.0.1"));
	assert_false(in("   ", "10.0.0.1"));
}

static void
test_cidr_bad(void **state)
{
	(void) state;
	const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "/8",
	    "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/0008",
	    "fd00::/129", "fd00::1/8", "2001:db8:0:1::/63", "10.0.0.0/8,",
	    ",10.0.0.0/8", "10.0.0.0/8,,::1", "example.com", "10.0.0.0 /8",
	    "10.0.0.0/8/8", "::ffff:10.0.0.0/95", "*", "10.0.0.0/ 8", "[::1]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		edge_proxies p;
		char err[256] = "";
		assert_int_equal(
		    edge_proxies_parse(&p, bad[i], err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
	}
	char many[1024] = "";
	for (int i = 0; i < EDGE_PROXIES_MAX + 1; i++) {
		size_t n = strlen(many);
		snprintf(many + n, sizeof(many) - n, "%s10.0.%d.0/24",
		    i ? "," : "", i);
	}
	edge_proxies p;
	char err[256];
	assert_int_equal(edge_proxies_parse(&p, many, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most"));
	*strrchr(many, ',') = '\0';
	assert_int_equal(edge_proxies_parse(&p, many, err, sizeof(err)), 0);
	assert_int_equal(p.n, EDGE_PROXIES_MAX);
	/* The message names the entry, shortened. */
	char lng[300];
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(edge_proxies_parse(&p, lng, err, sizeof(err)), -1);
	assert_true(strlen(err) < 200);
}

/* The hops of header value v (XFF or Forwarded) as "a|b|-" ("-" for a hop
 * without address, "BAD" for a header marked bad). */
static const char *
hops(bool forwarded, const char *v)
{
	static char out[1024];
	edge_hops h;
	memset(&h, 0, sizeof(h));
	if (forwarded) {
		edge_hops_add_forwarded(&h, v);
	} else {
		edge_hops_add_xff(&h, v);
	}
	if (h.bad) {
		return "BAD";
	}
	out[0] = '\0';
	for (size_t i = 0; i < h.n; i++) {
		char a[64];
		if (edge_ip_format(&h.list[i], a, sizeof(a)) != 0) {
			snprintf(a, sizeof(a), "-");
		}
		size_t n = strlen(out);
		snprintf(out + n, sizeof(out) - n, "%s%s", i ? "|" : "", a);
	}
	return out;
}

static void
test_xff(void **state)
{
	(void) state;
	assert_string_equal(hops(false, "203.0.113.5"), "203.0.113.5");
	assert_string_equal(hops(false, " 6.6.6.6,203.0.113.5 ,\t10.0.0.1 "),
	    "6.6.6.6|203.0.113.5|10.0.0.1");
	assert_string_equal(hops(false, "2001:db8::1, [2001:db8::2]:443"),
	    "2001:db8::1|2001:db8::2");
	assert_string_equal(hops(false, "192.0.2.1:8080"), "192.0.2.1");
	assert_string_equal(hops(false, ""), "");
	assert_string_equal(hops(false, " , ,"), "");
	assert_string_equal(hops(false, "a,,b"), "-|-");
	assert_string_equal(hops(false, "unknown, 192.0.2.1"), "-|192.0.2.1");
	const char *junk[] = {"192.0.2.1:", "192.0.2.1:99999", "192.0.2.1:x",
	    "[2001:db8::1", "[2001:db8::1]x", "[192.0.2.1]", "2001:db8::1]",
	    "\"192.0.2.1\"", "192.0.2.1 192.0.2.2", "[::1]:", "<script>",
	    "192.0.2.1;for=1.1.1.1"};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		assert_string_equal(hops(false, junk[i]), "-");
	}
	/* More hops than fit: the rightmost stay. */
	char lng[4096] = "";
	for (int i = 0; i < 100; i++) {
		size_t n = strlen(lng);
		snprintf(
		    lng + n, sizeof(lng) - n, "%s10.0.0.%d", i ? "," : "", i);
	}
	edge_hops h;
	memset(&h, 0, sizeof(h));
	edge_hops_add_xff(&h, lng);
	assert_int_equal(h.n, EDGE_HOPS_MAX);
	assert_true(h.dropped);
	char last[64];
	edge_ip_format(&h.list[h.n - 1], last, sizeof(last));
	assert_string_equal(last, "10.0.0.99");
}

static void
test_forwarded(void **state)
{
	(void) state;
	assert_string_equal(
	    hops(true, "for=192.0.2.60;proto=http;by=203.0.113.43"),
	    "192.0.2.60");
	assert_string_equal(
	    hops(true, "For=\"[2001:db8:cafe::17]:4711\", for=192.0.2.43"),
	    "2001:db8:cafe::17|192.0.2.43");
	assert_string_equal(hops(true, "for=\"192.0.2.1:80\""), "192.0.2.1");
	assert_string_equal(
	    hops(true, "for=unknown, for=_hidden, by=x"), "-|-|-");
	assert_string_equal(
	    hops(true, "proto=https;for=192.0.2.1 ; host=a"), "192.0.2.1");
	assert_string_equal(hops(true, "for=\"\\192.0.2.1\""), "192.0.2.1");
	assert_string_equal(hops(true, " , for=192.0.2.1,,"), "192.0.2.1");
	assert_string_equal(hops(true, "for=192.0.2.1;;"), "192.0.2.1");
	assert_string_equal(hops(true, "for=\"[::1]:_obf\""), "::1");
	assert_string_equal(hops(true, ""), "");
	/* Not an address, but no syntax error. */
	assert_string_equal(hops(true, "for=\"[::1\""), "-");
	assert_string_equal(hops(true, "for=\"192.0.2.1, for=1.1.1.1\""), "-");
	/* Syntax errors make the whole header bad. */
	const char *bad[] = {"for", "for=", "for=\"192.0.2.1",
	    "for=192.0.2.1 x", "for=192.0.2.1;for=192.0.2.2", "=192.0.2.1",
	    "for=[::1]", "for=\"a\tb\x01\"", "for=\"x\\", "for 192.0.2.1",
	    "for=192.0.2.1\"", "for=a=b", "f(r=1", "for=\"\x7f\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_string_equal(hops(true, bad[i]), "BAD");
	}
	char lng[1024];
	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	memcpy(lng, "for=", 4);
	assert_string_equal(hops(true, lng), "BAD"); /* a value too long */
}

/* The client for peer and an XFF value under the ranges csv. */
static const char *
client(const char *csv, const char *peer, const char *xff)
{
	static char buf[64];
	edge_proxies p;
	char err[256];
	edge_ip pip;
	edge_hops h;
	memset(&h, 0, sizeof(h));
	assert_int_equal(edge_proxies_parse(&p, csv, err, sizeof(err)), 0);
	assert_int_equal(edge_ip_parse(peer, strlen(peer), &pip), 0);
	if (xff != NULL) {
		edge_hops_add_xff(&h, xff);
	}
	edge_ip c = edge_client_ip(&p, &pip, &h);
	assert_int_equal(edge_ip_format(&c, buf, sizeof(buf)), 0);
	return buf;
}

static void
test_client_rule(void **state)
{
	(void) state;
	const char *t = "10.0.0.0/8, 2001:db8:ffff::/48";
	/* An untrusted peer's header is never believed. */
	assert_string_equal(
	    client(t, "198.51.100.1", "6.6.6.6"), "198.51.100.1");
	assert_string_equal(client("", "10.0.0.1", "6.6.6.6"), "10.0.0.1");
	/* A trusted one's: the rightmost untrusted hop. */
	assert_string_equal(
	    client(t, "10.0.0.1", "203.0.113.5"), "203.0.113.5");
	assert_string_equal(
	    client(t, "10.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.1.1, 10.2.2.2"),
	    "203.0.113.5");
	assert_string_equal(client(t, "10.0.0.1",
	                        "6.6.6.6, 2001:db8::9, "
	                        "2001:db8:ffff::1"),
	    "2001:db8::9");
	/* No header, or nothing in it: the peer. */
	assert_string_equal(client(t, "10.0.0.1", NULL), "10.0.0.1");
	assert_string_equal(client(t, "10.0.0.1", " , "), "10.0.0.1");
	/* Trusted all the way: the leftmost. */
	assert_string_equal(
	    client(t, "10.0.0.1", "10.9.9.9, 10.8.8.8"), "10.9.9.9");
	/* Garbage reached in the walk: the peer; left of the client, it does
	 * not matter. */
	assert_string_equal(
	    client(t, "10.0.0.1", "203.0.113.5, garbage"), "10.0.0.1");
	assert_string_equal(client(t, "10.0.0.1",
	                        "203.0.113.5, 10.1.1.1, "
	                        "unknown"),
	    "10.0.0.1");
	assert_string_equal(
	    client(t, "10.0.0.1", "garbage, 203.0.113.5"), "203.0.113.5");
	/* A client padding the left cannot push its own hop out. */
	char lng[4096] = "";
	for (int i = 0; i < 200; i++) {
		size_t n = strlen(lng);
		snprintf(lng + n, sizeof(lng) - n, "1.1.1.%d,", i % 250);
	}
	size_t n = strlen(lng);
	snprintf(lng + n, sizeof(lng) - n, "203.0.113.5");
	assert_string_equal(client(t, "10.0.0.1", lng), "203.0.113.5");
	/* Trusted hops beyond what fits: the peer, not a guess. */
	lng[0] = '\0';
	for (int i = 0; i < 100; i++) {
		n = strlen(lng);
		snprintf(
		    lng + n, sizeof(lng) - n, "%s10.0.0.%d", i ? "," : "", i);
	}
	assert_string_equal(client(t, "10.0.0.1", lng), "10.0.0.1");
	/* A bad Forwarded header: the peer. */
	edge_proxies p;
	char err[256];
	edge_ip peer;
	edge_hops h;
	memset(&h, 0, sizeof(h));
	assert_int_equal(edge_proxies_parse(&p, t, err, sizeof(err)), 0);
	assert_int_equal(edge_ip_parse("10.0.0.1", 8, &peer), 0);
	edge_hops_add_forwarded(&h, "for=203.0.113.5");
	edge_hops_add_forwarded(&h, "for=\"oops");
	edge_ip c = edge_client_ip(&p, &peer, &h);
	char buf[64];
	edge_ip_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	/* Two Forwarded fields are one list. */
	memset(&h, 0, sizeof(h));
	edge_hops_add_forwarded(&h, "for=6.6.6.6");
	edge_hops_add_forwarded(&h, "for=\"[2001:db8::5]\", for=10.3.3.3");
	c = edge_client_ip(&p, &peer, &h);
	edge_ip_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::5");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ip_parse),
	    cmocka_unit_test(test_cidr_match),
	    cmocka_unit_test(test_cidr_bad),
	    cmocka_unit_test(test_xff),
	    cmocka_unit_test(test_forwarded),
	    cmocka_unit_test(test_client_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
