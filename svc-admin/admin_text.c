#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "admin_text.h"

bool
admin_utf8_clip(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s);
	bool fits = n < cap;
	if (!fits) {
		n = cap - 1;
		/* Back up over continuation bytes to a character's start. */
		while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80) {
			n--;
		}
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return fits;
}

bool
admin_ip_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

json_t *
admin_json_str(const char *s)
{
	json_t *v = json_string(s != NULL ? s : "");
	return v != NULL ? v : json_string("\xef\xbf\xbd");
}
