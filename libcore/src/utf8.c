#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

size_t
core_utf8_seq_len(const void *str, size_t n)
{
	const uint8_t *s = str;
	uint32_t cp, min;
	size_t len;

	if (n == 0) {
		return 0;
	}
	if (s[0] < 0x80) {
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len) {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

bool
core_utf8_valid(const void *str, size_t n)
{
	const uint8_t *s = str;
	size_t i = 0;

	while (i < n) {
		size_t k = s[i] < 0x80 ? 1 : core_utf8_seq_len(s + i, n - i);
		if (k == 0) {
			return false;
		}
		i += k;
	}
	return true;
}

size_t
core_utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max), i = 0, k;
	while (i < n && (k = core_utf8_seq_len(s + i, n - i)) != 0) {
		i += k;
	}
	return i;
}

size_t
core_utf8_clean(char *dst, size_t cap, const char *src)
{
	static const char fffd[] = "\xef\xbf\xbd";
	size_t n = strlen(src), at = 0, used = 0;
	while (at < n) {
		size_t k = core_utf8_seq_len(src + at, n - at);
		const char *piece = k > 0 ? src + at : fffd;
		size_t len = k > 0 ? k : sizeof(fffd) - 1;
		if (used + len > cap - 1) {
			break;
		}
		memcpy(dst + used, piece, len);
		used += len;
		at += k > 0 ? k : 1;
	}
	dst[used] = '\0';
	return used;
}
