/* The web frontend: the files of one flat directory, read into memory at
 * start and served by exact name. Nothing is looked up on disk per request,
 * so no request path can reach a file outside the set. */
#ifndef EDGE_STATIC_H
#define EDGE_STATIC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct edge_file {
	char name[64];    /* "index.html" */
	const char *type; /* Content-Type */
	char etag[24];    /* "\"<16 hex>\"" */
	unsigned char *data;
	size_t len;
	bool page; /* HTML: gets the page Content-Security-Policy */
} edge_file;

/* Loads every regular file of dir whose name is [A-Za-z0-9._-]+ (not
 * starting with '.'), at most 64 files of at most 1 MiB each. A missing
 * directory is not an error (the edge then serves the API only). Returns
 * the number of files, or -1 (logged) on a read error. */
int edge_static_load(const char *dir);

/* The file for a request path ("/" is index.html), or NULL. */
const edge_file *edge_static_find(const char *path);

/* Whether an If-None-Match header value matches etag. */
bool edge_static_etag_match(const char *if_none_match, const char *etag);

void edge_static_free(void);

#endif
