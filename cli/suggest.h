/* "Did you mean" for names typed on the command line: the closest of a set
 * of known spellings by edit distance. Pure functions, no I/O. */
#ifndef RPCCTL_SUGGEST_H
#define RPCCTL_SUGGEST_H

#include <stddef.h>

/* Longest string compared; longer ones are never close to anything. */
#define RPCCTL_SUGGEST_MAX_LEN 256

/* Case-insensitive (ASCII) optimal string alignment distance between a and
 * b: the number of insertions, deletions, substitutions and swaps of two
 * adjacent characters that turn one into the other, each character edited
 * at most once (restricted Damerau-Levenshtein). SIZE_MAX when either is
 * longer than RPCCTL_SUGGEST_MAX_LEN bytes. */
size_t rpcctl_edit_distance(const char *a, const char *b);

/* The largest distance still worth suggesting for an input of len bytes:
 * a third of its length, at least 1 and at most 4, so that short names
 * only match near-misses and long ones a typo or two in a segment. */
size_t rpcctl_suggest_threshold(size_t len);

/* One spelling of a candidate; several spellings (full and short names of
 * one method) may share an id. */
typedef struct rpcctl_spelling {
	const char *text;
	size_t id;
} rpcctl_spelling;

/* Finds the candidates whose closest spelling is within
 * rpcctl_suggest_threshold(strlen(input)) of input and writes up to max of
 * their ids to ids[], closest first (ties keep the order of the spellings
 * array). A spelling equal to input (ignoring case) counts as distance 0.
 * Returns how many were written. */
size_t rpcctl_suggest(const char *input, const rpcctl_spelling *spellings,
    size_t n, size_t *ids, size_t max);

#endif
