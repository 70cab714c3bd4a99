/* If-Match (RFC 9110 section 13.1.1) as this API's ETags read it: pure
 * parsing, used by the if_match filter (filters.c). */
#ifndef EDGE_IF_MATCH_H
#define EDGE_IF_MATCH_H

/* What an If-Match header asks (RFC 9110 section 13.1.1). */
typedef enum edge_if_match {
	/* Not "*" nor a list of entity-tags (3, v7, "v7 unclosed), or
	 * two versions of this API (the RPC takes one): 400. */
	EDGE_IF_MATCH_BAD = -1,
	/* One strong ETag of this API, "v<n>" (among others that cannot
	 * match): the update applies only to version n. */
	EDGE_IF_MATCH_VERSION = 0,
	/* "*": any current version, i.e. no condition (a profile always
	 * exists: it is created on first access). */
	EDGE_IF_MATCH_ANY = 1,
	/* Entity-tags none of which can match: weak ones (If-Match compares
	 * strongly, so W/"v7" never matches), or not of this API ("7",
	 * "x"): 412, the update is not applied. */
	EDGE_IF_MATCH_NONE = 2,
} edge_if_match;

/* Parses an If-Match value: one of the edge_if_match outcomes, with the
 * version in *version for EDGE_IF_MATCH_VERSION (untouched otherwise).
 * Pure. */
int edge_if_match_parse(const char *value, long long *version);

#endif
