/* rpcctl list and describe, and name lookups with "did you mean": all from
 * the descriptors compiled into the binary (no .proto files needed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pbfield.h"

#include "rpcctl.h"
#include "suggest.h"

#define MAX_SUGGESTIONS 3
#define NAME_MAX_LEN 256

/* ---- names and suggestions ---------------------------------------------- */

/* Candidates for "did you mean": each shown one way, spelt several. */
typedef struct name_set {
	rpcctl_spelling *sp;
	size_t n_sp, cap_sp;
	char **shown;
	size_t n_shown, cap_shown;
	bool failed;
} name_set;

static bool
grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap) {
		return true;
	}
	size_t n = *cap ? *cap * 2 : 32;
	void *q = realloc(*p, n * size);
	if (q == NULL) {
		return false;
	}
	*p = q;
	*cap = n;
	return true;
}

/* Adds a candidate shown as shown; returns its id. */
static size_t
ns_candidate(name_set *s, const char *shown)
{
	char *copy = strdup(shown);
	if (copy == NULL || !grow((void **) &s->shown, &s->cap_shown,
	                        s->n_shown + 1, sizeof(char *))) {
		free(copy);
		s->failed = true;
		return 0;
	}
	s->shown[s->n_shown] = copy;
	return s->n_shown++;
}

static void
ns_spelling(name_set *s, size_t id, const char *text)
{
	char *copy = strdup(text);
	if (s->failed || copy == NULL ||
	    !grow((void **) &s->sp, &s->cap_sp, s->n_sp + 1, sizeof(*s->sp))) {
		free(copy);
		s->failed = true;
		return;
	}
	s->sp[s->n_sp++] = (rpcctl_spelling){copy, id};
}

static void
ns_free(name_set *s)
{
	for (size_t i = 0; i < s->n_sp; i++) {
		free((char *) (uintptr_t) s->sp[i].text);
	}
	for (size_t i = 0; i < s->n_shown; i++) {
		free(s->shown[i]);
	}
	free(s->sp);
	free(s->shown);
}

/* "unknown WHAT "input"; did you mean: a, b" on stderr. */
static void
ns_report(const name_set *s, const char *what, const char *input,
    const char *otherwise)
{
	size_t ids[MAX_SUGGESTIONS];
	size_t n = s->failed ? 0
	                     : rpcctl_suggest(input, s->sp, s->n_sp, ids,
	                           MAX_SUGGESTIONS);
	fprintf(stderr, "rpcctl: unknown %s \"%s\"", what, input);
	if (n == 0) {
		fprintf(stderr, "; %s\n", otherwise);
		return;
	}
	fprintf(stderr, "; did you mean: ");
	for (size_t i = 0; i < n; i++) {
		fprintf(stderr, "%s%s", i ? ", " : "", s->shown[ids[i]]);
	}
	fprintf(stderr, "\n");
}

void
rpcctl_short_name(const registry_service *svc,
    const ProtobufCMethodDescriptor *m, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s",
	    svc->target ? svc->target : svc->desc->short_name, m->name);
}

/* Every method, spelt in each form registry_find accepts, plus the
 * bare method name; shown in the style of the input (full names for an
 * input that starts with '/'). */
static void
add_methods(name_set *s, bool full)
{
	size_t n;
	const registry_service *svcs = registry_services(&n);
	char buf[NAME_MAX_LEN];
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *d = svcs[i].desc;
		for (unsigned k = 0; k < d->n_methods; k++) {
			const ProtobufCMethodDescriptor *m = &d->methods[k];
			char shortname[NAME_MAX_LEN];
			rpcctl_short_name(
			    &svcs[i], m, shortname, sizeof(shortname));
			snprintf(buf, sizeof(buf), "/%s/%s", d->name, m->name);
			size_t id = ns_candidate(s, full ? buf : shortname);
			ns_spelling(s, id, buf);
			ns_spelling(s, id, buf + 1);
			ns_spelling(s, id, shortname);
			snprintf(buf, sizeof(buf), "%s.%s", d->name, m->name);
			ns_spelling(s, id, buf);
			snprintf(
			    buf, sizeof(buf), "%s.%s", d->short_name, m->name);
			ns_spelling(s, id, buf);
			ns_spelling(s, id, m->name);
		}
	}
}

static void
add_services(name_set *s)
{
	size_t n;
	const registry_service *svcs = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		const char *shown =
		    svcs[i].target ? svcs[i].target : svcs[i].desc->name;
		size_t id = ns_candidate(s, shown);
		ns_spelling(s, id, svcs[i].desc->name);
		ns_spelling(s, id, svcs[i].desc->short_name);
		if (svcs[i].target != NULL) {
			ns_spelling(s, id, svcs[i].target);
		}
	}
}

int
rpcctl_find_method(const char *name, const registry_service **svc,
    const ProtobufCMethodDescriptor **method)
{
	if (registry_find(name, svc, method) == 0) {
		return 0;
	}
	name_set s = {0};
	add_methods(&s, name[0] == '/');
	ns_report(&s, "method", name, "see 'rpcctl list'");
	ns_free(&s);
	return -1;
}

/* The service named by its target, full or short name; NULL when none. */
static const registry_service *
find_service(const char *name)
{
	size_t n;
	const registry_service *svcs = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		if ((svcs[i].target && strcmp(svcs[i].target, name) == 0) ||
		    strcmp(svcs[i].desc->name, name) == 0 ||
		    strcmp(svcs[i].desc->short_name, name) == 0) {
			return &svcs[i];
		}
	}
	return NULL;
}

const registry_service *
rpcctl_find_target(const char *name)
{
	const registry_service *svc = registry_target(name);
	if (svc != NULL) {
		return svc;
	}
	name_set s = {0};
	size_t n;
	const registry_service *svcs = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		if (svcs[i].target != NULL) {
			size_t id = ns_candidate(&s, svcs[i].target);
			ns_spelling(&s, id, svcs[i].target);
			ns_spelling(&s, id, svcs[i].desc->name);
			ns_spelling(&s, id, svcs[i].desc->short_name);
		}
	}
	ns_report(&s, "service", name, "the services are auth, user, admin");
	ns_free(&s);
	return NULL;
}

/* ---- types reachable from the services ---------------------------------- */

typedef struct type_list {
	const void **items;
	size_t n, cap;
	bool failed;
} type_list;

static bool
tl_has(const type_list *l, const void *p)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->items[i] == p) {
			return true;
		}
	}
	return false;
}

static void
tl_add(type_list *l, const void *p)
{
	if (tl_has(l, p)) {
		return;
	}
	if (!grow((void **) &l->items, &l->cap, l->n + 1, sizeof(void *))) {
		l->failed = true;
		return;
	}
	l->items[l->n++] = p;
}

/* Adds d and every message and enum its fields use (depth-first). */
static void
collect(const ProtobufCMessageDescriptor *d, type_list *msgs, type_list *enums)
{
	if (tl_has(msgs, d)) {
		return;
	}
	tl_add(msgs, d);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			collect(f->descriptor, msgs, enums);
		} else if (f->type == PROTOBUF_C_TYPE_ENUM) {
			tl_add(enums, f->descriptor);
		}
	}
}

static void
collect_all(type_list *msgs, type_list *enums)
{
	size_t n;
	const registry_service *svcs = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *d = svcs[i].desc;
		for (unsigned k = 0; k < d->n_methods; k++) {
			collect(d->methods[k].input, msgs, enums);
			collect(d->methods[k].output, msgs, enums);
		}
	}
}

/* ---- list --------------------------------------------------------------- */

static void
list_service(const rpcctl_options *o, const registry_service *svc)
{
	const ProtobufCServiceDescriptor *d = svc->desc;
	char buf[NAME_MAX_LEN];
	if (o->names == RPCCTL_NAMES_NONE) {
		printf("%s%s%s%s\n", d->name, svc->target ? " (" : "",
		    svc->target ? svc->target : "", svc->target ? ")" : "");
	}
	for (unsigned k = 0; k < d->n_methods; k++) {
		const ProtobufCMethodDescriptor *m = &d->methods[k];
		switch (o->names) {
		case RPCCTL_NAMES_FULL:
			printf("/%s/%s\n", d->name, m->name);
			break;
		case RPCCTL_NAMES_SHORT:
			rpcctl_short_name(svc, m, buf, sizeof(buf));
			printf("%s\n", buf);
			break;
		case RPCCTL_NAMES_NONE:
			printf("  /%s/%s(%s) returns (%s)\n", d->name, m->name,
			    m->input->name, m->output->name);
			break;
		}
	}
}

int
rpcctl_cmd_list(const rpcctl_options *o, int argc, const char *const *argv)
{
	if (argc == 1) {
		const registry_service *svc = find_service(argv[0]);
		if (svc == NULL) {
			name_set s = {0};
			add_services(&s);
			ns_report(&s, "service", argv[0], "see 'rpcctl list'");
			ns_free(&s);
			return RPCCTL_EXIT_INVALID;
		}
		list_service(o, svc);
		return RPCCTL_EXIT_OK;
	}
	size_t n;
	const registry_service *svcs = registry_services(&n);
	for (size_t i = 0; i < n; i++) {
		list_service(o, &svcs[i]);
	}
	return RPCCTL_EXIT_OK;
}

/* ---- describe ----------------------------------------------------------- */

static const char *
type_name(const ProtobufCFieldDescriptor *f)
{
	if (f->type == PROTOBUF_C_TYPE_ENUM) {
		return ((const ProtobufCEnumDescriptor *) f->descriptor)->name;
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		return ((const ProtobufCMessageDescriptor *) f->descriptor)
		    ->name;
	}
	const char *name = core_pb_type_name(f->type);
	return name != NULL ? name : "?";
}

static void
describe_field(const ProtobufCFieldDescriptor *f, const char *indent)
{
	static const char *const labels[] = {
	    [PROTOBUF_C_LABEL_REQUIRED] = "required ",
	    [PROTOBUF_C_LABEL_OPTIONAL] = "optional ",
	    [PROTOBUF_C_LABEL_REPEATED] = "repeated ",
	    [PROTOBUF_C_LABEL_NONE] = "",
	};
	printf("%s", indent);
	if (core_pb_is_map_field(f)) {
		const ProtobufCMessageDescriptor *e = f->descriptor;
		printf("map<%s, %s>", type_name(&e->fields[0]),
		    type_name(&e->fields[1]));
	} else {
		printf("%s%s",
		    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		        ? ""
		        : labels[f->label],
		    type_name(f));
	}
	printf(" %s = %u;\n", f->name, f->id);
}

/* Prints a message like its .proto declaration. Fields of one oneof share
 * the case member (quantifier_offset); the oneof's own name is not in the
 * compiled descriptors, so the block is unnamed. */
static void
describe_message(const ProtobufCMessageDescriptor *d, type_list *enums)
{
	printf("message %s {\n", d->name);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_ENUM) {
			tl_add(enums, f->descriptor);
		}
		if (core_pb_is_map_field(f)) {
			const ProtobufCMessageDescriptor *e = f->descriptor;
			if (e->fields[1].type == PROTOBUF_C_TYPE_ENUM) {
				tl_add(enums, e->fields[1].descriptor);
			}
		}
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
			describe_field(f, "  ");
			continue;
		}
		/* The first member of its oneof opens the block and lists
		 * every member. */
		bool first = true;
		for (unsigned k = 0; k < i; k++) {
			if (core_pb_same_oneof(&d->fields[k], f)) {
				first = false;
			}
		}
		if (!first) {
			continue;
		}
		printf("  oneof {\n");
		for (unsigned k = i; k < d->n_fields; k++) {
			if (core_pb_same_oneof(&d->fields[k], f)) {
				describe_field(&d->fields[k], "    ");
			}
		}
		printf("  }\n");
	}
	printf("}\n");
}

static void
describe_enum(const ProtobufCEnumDescriptor *e)
{
	printf("enum %s {\n", e->name);
	for (unsigned k = 0; k < e->n_values; k++) {
		printf("  %s = %d;\n", e->values[k].name, e->values[k].value);
	}
	printf("}\n");
}

/* The enums a description used, each once, after a blank line. */
static void
describe_enums(const type_list *enums)
{
	for (size_t i = 0; i < enums->n; i++) {
		printf("\n");
		describe_enum(enums->items[i]);
	}
}

static void
describe_service(const registry_service *svc)
{
	const ProtobufCServiceDescriptor *d = svc->desc;
	if (svc->target != NULL) {
		printf("// target \"%s\", dialed at $%s (default %s)\n",
		    svc->target, svc->dial_env, svc->dial_default);
	} else {
		printf(
		    "// served by every service (call it with --service)\n");
	}
	printf("service %s {\n", d->name);
	for (unsigned k = 0; k < d->n_methods; k++) {
		printf("  rpc %s(%s) returns (%s);\n", d->methods[k].name,
		    d->methods[k].input->name, d->methods[k].output->name);
	}
	printf("}\n");
}

static void
describe_method(
    const registry_service *svc, const ProtobufCMethodDescriptor *m)
{
	type_list enums = {0};
	char shortname[NAME_MAX_LEN];
	rpcctl_short_name(svc, m, shortname, sizeof(shortname));
	printf("// %s\n", shortname);
	printf("rpc /%s/%s(%s) returns (%s)\n\n", svc->desc->name, m->name,
	    m->input->name, m->output->name);
	describe_message(m->input, &enums);
	printf("\n");
	describe_message(m->output, &enums);
	describe_enums(&enums);
	free(enums.items);
}

/* The full and short names of entry i of l, a list of message
 * descriptors or (is_enum) of enum descriptors. */
static void
entry_names(const type_list *l, size_t i, bool is_enum, const char **full,
    const char **shortname)
{
	if (is_enum) {
		const ProtobufCEnumDescriptor *e = l->items[i];
		*full = e->name;
		*shortname = e->short_name;
	} else {
		const ProtobufCMessageDescriptor *d = l->items[i];
		*full = d->name;
		*shortname = d->short_name;
	}
}

/* The entry of l of that full name, or else the only one of that short
 * name ("LoginRequest"); NULL when none or several. */
static const void *
find_type(const type_list *l, bool is_enum, const char *name)
{
	const void *found = NULL;
	size_t n_short = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *full, *shortname;
		entry_names(l, i, is_enum, &full, &shortname);
		if (strcmp(full, name) == 0) {
			return l->items[i];
		}
		if (strcmp(shortname, name) == 0) {
			found = l->items[i];
			n_short++;
		}
	}
	return n_short == 1 ? found : NULL;
}

/* Each entry of l as a candidate shown by its full name, spelt by its
 * full and short names. */
static void
add_type_names(name_set *s, const type_list *l, bool is_enum)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *full, *shortname;
		entry_names(l, i, is_enum, &full, &shortname);
		size_t id = ns_candidate(s, full);
		ns_spelling(s, id, full);
		ns_spelling(s, id, shortname);
	}
}

/* Every service, method, message and enum, for "did you mean". */
static void
add_all_names(name_set *s, const type_list *msgs, const type_list *enums)
{
	add_services(s);
	add_methods(s, false);
	add_type_names(s, msgs, false);
	add_type_names(s, enums, true);
}

int
rpcctl_cmd_describe(const rpcctl_options *o, int argc, const char *const *argv)
{
	(void) o;
	(void) argc;
	const char *name = argv[0];
	if (name[0] == '.' && name[1] != '\0') {
		name++; /* ".auth.v1.User", as protoc spells full names */
	}
	const registry_service *svc = find_service(name);
	if (svc != NULL) {
		describe_service(svc);
		return RPCCTL_EXIT_OK;
	}
	const ProtobufCMethodDescriptor *m = NULL;
	if (registry_find(name, &svc, &m) == 0) {
		describe_method(svc, m);
		return RPCCTL_EXIT_OK;
	}
	type_list msgs = {0}, enums = {0};
	collect_all(&msgs, &enums);
	int rc = RPCCTL_EXIT_INVALID;
	const ProtobufCMessageDescriptor *d = find_type(&msgs, false, name);
	const ProtobufCEnumDescriptor *e =
	    d ? NULL : find_type(&enums, true, name);
	if (d != NULL) {
		type_list used = {0};
		describe_message(d, &used);
		describe_enums(&used);
		free(used.items);
		rc = RPCCTL_EXIT_OK;
	} else if (e != NULL) {
		describe_enum(e);
		rc = RPCCTL_EXIT_OK;
	} else {
		name_set s = {0};
		add_all_names(&s, &msgs, &enums);
		ns_report(&s, "service, method, message or enum", argv[0],
		    "see 'rpcctl list'");
		ns_free(&s);
	}
	free(msgs.items);
	free(enums.items);
	return rc;
}
