/* The load programs' client: one URL dialed, up to 3 s for a connection. */
#ifndef BENCH_RPC_H
#define BENCH_RPC_H

#include <stdio.h>
#include <unistd.h>

#include "core/rpc.h"

/* A client of url with 2 connections, once one is up; NULL (printed) when
 * the URL is bad or nothing answers within 3 s. */
static inline core_rpc_client *
bench_dial(const char *url)
{
	const char *urls[] = {url};
	core_rpc_client_config cfg = {
	    .name = "load", .urls = urls, .n_urls = 1, .conns_per_url = 2};
	core_rpc_client *cli = NULL;
	if (core_rpc_client_new(&cfg, &cli) != 0) {
		fprintf(stderr, "cannot dial %s\n", url);
		return NULL;
	}
	for (int i = 0; core_rpc_client_connections(cli) < 1; i++) {
		if (i == 3000) {
			fprintf(stderr, "no connection to %s\n", url);
			core_rpc_client_free(cli);
			return NULL;
		}
		usleep(1000);
	}
	return cli;
}

#endif
