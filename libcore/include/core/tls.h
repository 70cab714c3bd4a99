/* Mutual TLS credentials of the RPC transport (tls+tcp://).
 *
 * A core_tls holds this process's certificate and key, the CA bundle peers
 * are verified against and an optional certificate revocation list. It is
 * process-wide and reloadable: core_tls_reload swaps in new credentials for
 * every handshake that starts afterwards; connections already up keep the
 * ones they were made with (nothing is dropped). A reload that fails (a file
 * unreadable, a PEM that does not parse, a key that does not match the
 * certificate, a certificate that does not verify against the CA, another
 * identity) keeps the old credentials and logs an error.
 *
 * The identity of a process is the commonName of its certificate ("edge",
 * "svc-auth", "svc-user", "svc-admin", "ops"). A server requires a client
 * certificate and hands the verified identity of the caller to the method
 * rules (core_call_peer); a client checks that the server's certificate
 * names the identity it expects (core_rpc_client_config.peer_identity).
 * TLS 1.2 is the minimum. See docs/rpc.md and docs/internals/tls.md. */
#ifndef CORE_TLS_H
#define CORE_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest identity (commonName) accepted, in bytes. */
#define CORE_TLS_IDENTITY_MAX 64
/* Largest certificate, key, CA bundle or CRL file read, in bytes. */
#define CORE_TLS_FILE_MAX (1u << 20)

typedef struct core_tls core_tls;

/* Where the credentials come from: for each of the four, a file (which
 * core_tls_reload reads again) or inline PEM text (fixed), not both. The
 * certificate, key and CA are required; the CRL is optional. */
typedef struct core_tls_source {
	const char *cert_file, *key_file, *ca_file, *crl_file;
	const char *cert_pem, *key_pem, *ca_pem, *crl_pem;
} core_tls_source;

/* Loads credentials from src (copied). Returns 0 and *out, or -1 with a
 * message in err (naming the file and what is wrong; never key bytes). */
int core_tls_new(
    const core_tls_source *src, core_tls **out, char *err, size_t errlen);

/* Loads credentials from the environment: RPC_TLS_CERT, RPC_TLS_KEY,
 * RPC_TLS_CA, RPC_TLS_CRL (inline PEM) or their _FILE forms (a path; only
 * then can a file be reloaded). Returns 0 with *out = NULL when none of
 * them is set (plain transports only), 0 with *out set, or -1 with err
 * (a variable given with its _FILE form too, a missing one, bad content).
 * Logs one line naming the files and the identity on success. */
int core_tls_from_env(core_tls **out, char *err, size_t errlen);

/* This process's identity: the commonName of its certificate. Fixed for
 * the life of t (a reload that names another identity is refused). */
const char *core_tls_identity(const core_tls *t);

/* Reads the credentials again (files; inline PEM stays). Returns 0 when
 * new credentials are in use, -1 when the old ones are kept (logged).
 * Thread-safe. */
int core_tls_reload(core_tls *t);

/* Reloads when a file changed since the last load (size, modification
 * time, inode). Returns 1 after a reload, 0 when nothing changed, -1 when
 * a reload failed (logged once per change; the old credentials stay). */
int core_tls_reload_if_changed(core_tls *t);

/* Frees t. Every server and client using it must have been freed first
 * (connections hold the credentials they were made with until they
 * close). NULL is a no-op. */
void core_tls_free(core_tls *t);

/* The process-wide credentials used by servers and clients whose config
 * names none (NULL clears). Not owned: the caller frees it after the last
 * server and client. */
void core_tls_set_default(core_tls *t);
/* The calling thread's own default (NULL clears), before the process's:
 * what a component of a process that runs several (microcore) makes its
 * clients with while it starts, so components can start at once, each in
 * a thread of its own, without taking each other's credentials. */
void core_tls_set_thread_default(core_tls *t);
/* The thread's default, else the process's (NULL: none). */
core_tls *core_tls_default(void);

/* Waits for SIGINT or SIGTERM and returns the signal, as
 * core_rpc_wait_signal does, and meanwhile: on SIGHUP reloads t, and every
 * poll_s seconds (0 = never) reloads it when a file changed. t may be NULL
 * (SIGHUP is then only logged). The signals must be blocked in every
 * thread (core_rpc_block_signals blocks SIGHUP too). */
int core_tls_wait_signal(core_tls *t, long poll_s);

/* The same for the n credentials of a process that runs several
 * components (each with its own): SIGHUP reloads all of them, and every
 * poll_s seconds each whose files changed. NULL entries are skipped. */
int core_tls_wait_signal_all(core_tls *const *t, size_t n, long poll_s);

#endif
