/* Edit distance and close-match suggestions: see suggest.h. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "suggest.h"

static size_t
min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

static int
fold(char c)
{
	return tolower((unsigned char) c);
}

size_t
rpcctl_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > RPCCTL_SUGGEST_MAX_LEN || lb > RPCCTL_SUGGEST_MAX_LEN) {
		return SIZE_MAX;
	}
	/* Three rows of the dynamic-programming table: the transposition
	 * step looks two rows back. */
	size_t rows[3][RPCCTL_SUGGEST_MAX_LEN + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++) {
		prev[j] = j;
	}
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
			size_t d = min3(
			    prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 &&
			    fold(a[i - 1]) == fold(b[j - 2]) &&
			    fold(a[i - 2]) == fold(b[j - 1]) &&
			    prev2[j - 2] + 1 < d) {
				d = prev2[j - 2] + 1;
			}
			cur[j] = d;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

size_t
rpcctl_suggest_threshold(size_t len)
{
	size_t t = len / 3;
	if (t < 1) {
		return 1;
	}
	return t > 4 ? 4 : t;
}

size_t
rpcctl_suggest(const char *input, const rpcctl_spelling *spellings, size_t n,
    size_t *ids, size_t max)
{
	/* The best distance of each id seen so far, kept sorted by distance
	 * (insertion keeps ties in the order of first appearance). */
	size_t dist[16];
	size_t kept = 0;
	size_t limit = rpcctl_suggest_threshold(strlen(input));
	if (max > sizeof(dist) / sizeof(dist[0])) {
		max = sizeof(dist) / sizeof(dist[0]);
	}
	for (size_t i = 0; i < n; i++) {
		size_t d = rpcctl_edit_distance(input, spellings[i].text);
		if (d > limit) {
			continue;
		}
		size_t id = spellings[i].id;
		size_t k = 0;
		while (k < kept && ids[k] != id) {
			k++;
		}
		if (k < kept) {
			if (dist[k] <= d) {
				continue;
			}
			/* A closer spelling of a kept id: take it out, then
			 * insert it again at its new rank. */
			memmove(&ids[k], &ids[k + 1],
			    (kept - k - 1) * sizeof(*ids));
			memmove(&dist[k], &dist[k + 1],
			    (kept - k - 1) * sizeof(*dist));
			kept--;
		}
		size_t pos = kept;
		while (pos > 0 && dist[pos - 1] > d) {
			pos--;
		}
		if (pos >= max) {
			continue;
		}
		if (kept == max) {
			kept--; /* the farthest falls off the end */
		}
		memmove(&ids[pos + 1], &ids[pos], (kept - pos) * sizeof(*ids));
		memmove(
		    &dist[pos + 1], &dist[pos], (kept - pos) * sizeof(*dist));
		ids[pos] = id;
		dist[pos] = d;
		kept++;
	}
	return kept;
}
