/* JSON Schemas of messages in the codec's REST style. What the style is
 * lives in libcore/src/json.c (and core/json.h says it); this file says
 * the same in JSON Schema, and the contract test (tests/api) checks real
 * answers against it, so the two cannot drift apart unnoticed. */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/pbfield.h"
#include "schema.h"

#define REF_PREFIX "#/components/schemas/"

int
edge_schemas_init(edge_schemas *s, json_t *schemas)
{
	s->schemas = schemas;
	s->views = json_object();
	return s->views != NULL ? 0 : -1;
}

void
edge_schemas_free(edge_schemas *s)
{
	json_decref(s->views);
	s->views = NULL;
}

bool
edge_names_listed(const char *const *names, const char *name)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		if (strcmp(names[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static json_t *
ref_to(const char *name)
{
	char buf[256];
	snprintf(buf, sizeof(buf), REF_PREFIX "%s", name);
	return json_pack("{s:s}", "$ref", buf);
}

/* A component name for key: base, else the first of base2, base3, ...
 * that is free. Written to out. */
static void
free_name(const edge_schemas *s, const char *base, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", base);
	for (int i = 2; json_object_get(s->schemas, out) != NULL; i++) {
		snprintf(out, outlen, "%s%d", base, i);
	}
}

/* The enum's component ({"type": "string", "enum": [...]} of the REST
 * names), added once; a $ref to it. */
static json_t *
enum_ref(edge_schemas *s, const ProtobufCEnumDescriptor *ed)
{
	char key[256], name[128];
	snprintf(key, sizeof(key), "enum %s", ed->name);
	const json_t *known = json_object_get(s->views, key);
	if (known != NULL) {
		return ref_to(json_string_value(known));
	}
	free_name(s, ed->short_name, name, sizeof(name));
	json_t *values = json_array();
	for (unsigned i = 0; values != NULL && i < ed->n_values; i++) {
		char rest[128];
		if (core_json_enum_rest_name(
		        ed, &ed->values[i], rest, sizeof(rest)) > 0) {
			json_array_append_new(values, json_string(rest));
		}
	}
	json_t *e = json_pack("{s:s, s:o}", "type", "string", "enum", values);
	if (e == NULL || json_object_set_new(s->schemas, name, e) != 0 ||
	    json_object_set_new(s->views, key, json_string(name)) != 0) {
		return NULL;
	}
	return ref_to(name);
}

/* The schema of a message-typed value: the well-known types as the
 * codec writes them, any other message by reference (the same direction,
 * every member). */
static json_t *
message_value(edge_schemas *s, const ProtobufCMessageDescriptor *d, bool input,
    bool nullable)
{
	if (strcmp(d->name, "google.protobuf.Timestamp") == 0) {
		return json_pack("{s:[s,s], s:s}", "type", "string",
		    nullable ? "null" : "string", "format", "date-time");
	}
	if (strcmp(d->name, "google.protobuf.Struct") == 0) {
		return json_pack("{s:[s,s]}", "type", "object",
		    nullable ? "null" : "object");
	}
	if (strcmp(d->name, "google.protobuf.Value") == 0) {
		return json_object(); /* any JSON value */
	}
	if (strcmp(d->name, "google.protobuf.ListValue") == 0) {
		return json_pack("{s:s}", "type", "array");
	}
	edge_schema_view v = {.input = input};
	json_t *ref = edge_schema_ref(s, d, &v);
	if (ref == NULL || !nullable) {
		return ref;
	}
	return json_pack("{s:[o,{s:s}]}", "anyOf", ref, "type", "null");
}

/* "type": ["string", "null"] came out as a two-element array even when
 * not nullable: make it one type again. */
static void
single_type(json_t *schema)
{
	json_t *t = json_object_get(schema, "type");
	if (json_is_array(t) && json_array_size(t) == 2 &&
	    strcmp(json_string_value(json_array_get(t, 0)),
	        json_string_value(json_array_get(t, 1))) == 0) {
		/* Replacing t releases it (and its first element keeps
		 * the reference taken here). */
		json_object_set_new(
		    schema, "type", json_incref(json_array_get(t, 0)));
	}
}

/* A singular value of field f's type (the element, for repeated). */
static json_t *
scalar_value(edge_schemas *s, const ProtobufCFieldDescriptor *f, bool input,
    bool nullable)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return json_pack("{s:s}", "type", "string");
	case PROTOBUF_C_TYPE_BOOL:
		return json_pack("{s:s}", "type", "boolean");
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_pack(
		    "{s:s, s:s}", "type", "integer", "format", "int32");
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_pack("{s:s, s:i, s:I}", "type", "integer",
		    "minimum", 0, "maximum", (json_int_t) UINT32_MAX);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		/* proto3 JSON: 64-bit integers are strings. */
		return json_pack("{s:s, s:s, s:s}", "type", "string", "format",
		    "int64", "pattern", "^-?[0-9]+$");
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_pack(
		    "{s:s, s:s}", "type", "string", "pattern", "^[0-9]+$");
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_pack("{s:s}", "type", "number");
	case PROTOBUF_C_TYPE_BYTES:
		return json_pack("{s:s, s:s}", "type", "string",
		    "contentEncoding", "base64");
	case PROTOBUF_C_TYPE_ENUM:
		return enum_ref(s, f->descriptor);
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_value(s, f->descriptor, input, nullable);
	}
	return NULL;
}

/* The rule's limits on a string or integer schema. */
static void
apply_rule(
    json_t *schema, const ProtobufCFieldDescriptor *f, const field_rule *r)
{
	if (r == NULL) {
		return;
	}
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		if (r->min_len > 0) {
			json_object_set_new(schema, "minLength",
			    json_integer((json_int_t) r->min_len));
		}
		if (r->max_len > 0) {
			json_object_set_new(schema, "maxLength",
			    json_integer((json_int_t) r->max_len));
		}
		if (r->pattern != NULL) {
			json_object_set_new(
			    schema, "pattern", json_string(r->pattern));
		}
		if (r->format != NULL) {
			json_object_set_new(
			    schema, "format", json_string(r->format));
		}
	}
	if (r->flags & RULE_RANGE) {
		json_object_set_new(schema, "minimum", json_integer(r->min));
		json_object_set_new(schema, "maximum", json_integer(r->max));
	}
}

json_t *
edge_schema_field(edge_schemas *s, const ProtobufCFieldDescriptor *f,
    const field_rule *r, bool input)
{
	bool nullable = !input && r != NULL && (r->flags & RULE_NULLABLE);
	json_t *schema;
	if (core_pb_is_map_field(f)) {
		const ProtobufCMessageDescriptor *entry = f->descriptor;
		const ProtobufCFieldDescriptor *vf =
		    core_pb_field_find(entry, "value");
		json_t *value = vf != NULL ? scalar_value(s, vf, input, false)
		                           : json_object();
		schema = json_pack("{s:s, s:o}", "type", "object",
		    "additionalProperties", value);
	} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		json_t *item = scalar_value(s, f, input, false);
		if (item != NULL) {
			single_type(item);
			apply_rule(item, f, r);
		}
		schema =
		    json_pack("{s:s, s:o}", "type", "array", "items", item);
	} else {
		schema = scalar_value(s, f, input, nullable);
		if (schema != NULL) {
			single_type(schema);
			apply_rule(schema, f, r);
		}
	}
	if (schema != NULL && r != NULL && r->description != NULL) {
		json_object_set_new(
		    schema, "description", json_string(r->description));
	}
	return schema;
}

/* The key that tells views of a message apart. */
static void
view_key(char *out, size_t outlen, const ProtobufCMessageDescriptor *d,
    const edge_schema_view *v)
{
	const char *const *lists[3] = {v->hidden, v->optional, v->only};
	size_t n = (size_t) snprintf(
	    out, outlen, "%s %s", d->name, v->input ? "in" : "out");
	for (int k = 0; k < 3 && n < outlen; k++) {
		n += (size_t) snprintf(out + n, outlen - n, "|");
		for (size_t i = 0;
		     lists[k] != NULL && lists[k][i] != NULL && n < outlen;
		     i++) {
			n += (size_t) snprintf(
			    out + n, outlen - n, "%s,", lists[k][i]);
		}
	}
}

/* Whether the view shows field f. */
static bool
shown(const edge_schema_view *v, const ProtobufCFieldDescriptor *f)
{
	if (edge_names_listed(v->hidden, f->name)) {
		return false;
	}
	return v->only == NULL || edge_names_listed(v->only, f->name);
}

/* Whether the view requires field f (shown). */
static bool
required(const edge_schema_view *v, const ProtobufCFieldDescriptor *f,
    const field_rule *r)
{
	if (edge_names_listed(v->optional, f->name)) {
		return false;
	}
	if (v->input) {
		return r != NULL && (r->flags & RULE_REQUIRED);
	}
	/* Every member of an answer is there, but for a oneof's. */
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0;
}

/* The object schema of d seen as v. */
static json_t *
message_schema(edge_schemas *s, const ProtobufCMessageDescriptor *d,
    const edge_schema_view *v)
{
	json_t *props = json_object();
	json_t *req = json_array();
	json_t *o = json_pack("{s:s}", "type", "object");
	const field_rule *mr = rules_find(d, NULL);
	if (props == NULL || req == NULL || o == NULL) {
		goto fail;
	}
	if (mr != NULL && mr->description != NULL) {
		json_object_set_new(
		    o, "description", json_string(mr->description));
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!shown(v, f)) {
			continue;
		}
		const field_rule *r = rules_find(d, f->name);
		json_t *fs = edge_schema_field(s, f, r, v->input);
		if (fs == NULL ||
		    json_object_set_new(props, f->name, fs) != 0) {
			goto fail;
		}
		if (required(v, f, r)) {
			json_array_append_new(req, json_string(f->name));
		}
	}
	json_object_set_new(o, "properties", props);
	if (json_array_size(req) > 0) {
		json_object_set_new(o, "required", req);
	} else {
		json_decref(req);
	}
	if (v->input) {
		json_object_set_new(o, "additionalProperties", json_false());
	}
	return o;
fail:
	json_decref(props);
	json_decref(req);
	json_decref(o);
	return NULL;
}

json_t *
edge_schema_ref(edge_schemas *s, const ProtobufCMessageDescriptor *d,
    const edge_schema_view *v)
{
	char key[1024], name[128];
	view_key(key, sizeof(key), d, v);
	const json_t *known = json_object_get(s->views, key);
	if (known != NULL) {
		return ref_to(json_string_value(known));
	}
	free_name(s, d->short_name, name, sizeof(name));
	/* Claimed before the members are built: a message that holds
	 * itself refers to this name instead of recursing. */
	if (json_object_set_new(s->views, key, json_string(name)) != 0 ||
	    json_object_set_new(s->schemas, name, json_object()) != 0) {
		return NULL;
	}
	json_t *schema = message_schema(s, d, v);
	if (schema == NULL ||
	    json_object_set_new(s->schemas, name, schema) != 0) {
		return NULL;
	}
	return ref_to(name);
}
