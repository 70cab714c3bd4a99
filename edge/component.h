/* The edge as a component: its steps from configuration to a stopped HTTP
 * server, run by main.c in its own process (the split mode) and by
 * microcore beside the services (the single-process mode). The edge's
 * modules keep their state in statics: one edge per process. */
#ifndef EDGE_COMPONENT_H
#define EDGE_COMPONENT_H

#include <stdbool.h>

#include "core/config.h"
#include "core/tls.h"

/* The process-wide part of the edge's set-up: jansson's allocator wipes
 * what it frees (request bodies hold passwords and tokens). Run once
 * before other threads use jansson; edge_component_new runs it when not
 * hosted, a host (microcore) before it starts its components. */
void edge_component_process_init(void);

/* Loads the configuration (in scope, core/config.h; NULL: the plain
 * variables), the routes, the OpenAPI document, the metrics, the web files
 * and the TLS credentials, and (not hosted) dials the backends. hosted: one
 * component among several: it logs as its own component, and its host
 * calls edge_component_dial when the services of the process listen (so
 * the connections are made at once, not at a dialer's later attempt).
 * Returns 0, 1 when it cannot start, 2 for bad configuration (logged).
 * Call edge_component_free in every case. */
int edge_component_new(const core_config_scope *scope, bool hosted);

/* Dials the backends, with the edge's credentials as the default of their
 * clients (hosted: only the calling thread's default, while it dials:
 * other components may start at the same time in other threads). After
 * edge_component_new, before edge_component_start. Returns 0, or 1. */
int edge_component_dial(void);

/* Starts the readiness thread and the HTTP server. Returns 0, or 1. */
int edge_component_start(void);

/* Stops the HTTP server: each RPC in flight ends within its deadline. */
void edge_component_stop(void);

/* Frees everything (after a stop, or a failed start). */
void edge_component_free(void);

/* The edge's TLS credentials (NULL: none) and RPC_TLS_RELOAD_S. */
core_tls *edge_component_tls(void);
long edge_component_tls_reload_s(void);

#endif
