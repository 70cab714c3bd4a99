/* The caller as the transport knows it: identity, remote address, and the
 * client facts a caller may assert (docs/rpc.md "Identities").
 *
 * Calls over tls+tcp:// carry the identity of the peer's verified
 * certificate. Only the edge talks to end users, so only the edge may
 * tell a service the end user's IP address and user agent; from any other
 * identity those facts are replaced before the method's rule and handler
 * see the call: an internal service cannot dodge the login throttle or
 * falsify audit rows by naming another address. Plain transports carry no
 * identity and are trusted as they always were (local experiments only;
 * their listeners log a warning). Calls between the components of one
 * process carry their caller in the inproc:// URL they came through
 * (core/inproc.h) and are treated as the TLS ones are. */
#include <arpa/inet.h>
#include <string.h>

#include "core/call_auth.h"
#include "core/inproc.h"
#include "core/log.h"
#include "rpc_call.h"
#include "tls_internal.h"

/* The remote IP address into buf; or, for a pipe of an in-process caller
 * URL (core/inproc.h), its caller into peer: returns 1 then, else 0. */
static int
remote_ip(nng_pipe p, char *buf, size_t len, char *peer)
{
	nng_sockaddr sa;
	buf[0] = '\0';
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
		return 0;
	}
	if (sa.s_family == NNG_AF_INPROC) {
		return core_inproc_caller(sa.s_inproc.sa_name, peer);
	}
	if (sa.s_family == NNG_AF_INET) {
		inet_ntop(AF_INET, &sa.s_in.sa_addr, buf, (socklen_t) len);
	} else if (sa.s_family == NNG_AF_INET6) {
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, buf, (socklen_t) len);
	}
	return 0;
}

void
rpc_peer_from_msg(core_call *c, nng_msg *msg)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	c->tls = false;
	c->has_peer = false;
	c->peer[0] = '\0';
	c->remote_ip[0] = '\0';
	if (nng_pipe_id(p) < 0) {
		return; /* not from a connection (tests, fuzzing) */
	}
	/* A caller inside the process, named by the URL it dialed: as
	 * authenticated as a certificate's (c->tls means "the transport
	 * authenticates its callers", so the callers lists apply). */
	if (remote_ip(p, c->remote_ip, sizeof(c->remote_ip), c->peer) == 1) {
		c->tls = true;
		c->has_peer = true;
		return;
	}
	int r = tls_pipe_peer(p, c->peer);
	c->tls = r != 0;
	c->has_peer = r == 1;
}

static bool
believed(const core_call *c)
{
	return !c->tls ||
	       (c->has_peer && strcmp(c->peer, CORE_EDGE_IDENTITY) == 0);
}

/* Sets the top-level string field name of in to v, when in has one. */
static void
set_string_field(const ProtobufCMessageDescriptor *desc, ProtobufCMessage *in,
    const char *name, char *v)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(desc, name);
	if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
	    f->label != PROTOBUF_C_LABEL_REPEATED &&
	    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
		*(char **) (void *) ((char *) in + f->offset) = v;
	}
}

core_status
rpc_peer_facts(core_call *c, Core__V1__Request *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage *in)
{
	if (believed(c)) {
		return CORE_OK;
	}
	char *ip = core_arena_strdup(c->arena, c->remote_ip);
	char *empty = core_arena_strdup(c->arena, "");
	if (ip == NULL || empty == NULL) {
		return core_call_error(
		    c, CORE_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < req->n_metadata; i++) {
		if (strcmp(req->metadata[i]->key, CORE_MD_CLIENT_IP) == 0) {
			req->metadata[i]->value = ip;
		}
	}
	set_string_field(desc, in, "client_ip", ip);
	set_string_field(desc, in, "user_agent", empty);
	return CORE_OK;
}

const char *
core_call_peer(const core_call *c)
{
	return c->has_peer ? c->peer : NULL;
}

bool
core_call_tls(const core_call *c)
{
	return c->tls;
}

const char *
core_call_client_ip(const core_call *c)
{
	const char *md = core_call_metadata(c, CORE_MD_CLIENT_IP);
	if (md != NULL && md[0] != '\0') {
		return md;
	}
	return c->remote_ip[0] != '\0' ? c->remote_ip : NULL;
}
