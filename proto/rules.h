/* The input rules and descriptions of the fields of the messages the REST
 * API shows, in one table: the services validate with it and the edge's
 * OpenAPI document (edge/openapi.c) describes with it, so the limits a
 * client reads are the limits a service enforces. The table is static and
 * read-only: thread-safe. */
#ifndef RULES_H
#define RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* A request must set the field: a non-empty string, a non-zero number. */
#define RULE_REQUIRED 0x1u
/* min/max bound an integer field's value. */
#define RULE_RANGE 0x2u
/* A response may leave this message field unset (null in the REST
 * style); without it the document promises an object. */
#define RULE_NULLABLE 0x4u

typedef struct field_rule {
	const char *message; /* full name: "auth.v1.RegisterRequest" */
	/* The field's proto name, or NULL for the row that describes the
	 * message itself. */
	const char *field;
	unsigned flags; /* RULE_* */
	size_t min_len; /* characters (Unicode code points); 0: none */
	size_t max_len; /* characters; 0: no limit */
	long long min;  /* with RULE_RANGE */
	long long max;  /* with RULE_RANGE */
	/* An ECMA-262 regular expression the whole value matches (for the
	 * document; the service checks the same shape in C), or NULL. */
	const char *pattern;
	/* A JSON Schema format ("email", "uuid", "uri"), or NULL. */
	const char *format;
	const char *description; /* one or two sentences, or NULL */
} field_rule;

/* The row of field (NULL: the message's own row) of message d, or NULL
 * when the table has none. */
const field_rule *rules_find(
    const ProtobufCMessageDescriptor *d, const char *field);

/* Every row of rules.c (and their number). */
const field_rule *rules_all(size_t *n);

/* Table i of rows (0: rules.c's, as rules_all; then the tables features
 * keep apart) and its number of rows; NULL past the last table. Each
 * table keeps the order rules.c's does. */
const field_rule *rules_table(size_t i, size_t *n);

/* Two-factor login's table (rules_mfa.c). */
extern const field_rule rules_mfa_rows[];
extern const size_t rules_mfa_n_rows;

/* The longest message the checks below write. */
#define RULES_MESSAGE_MAX 96

/* Checks text s (valid UTF-8) against r's RULE_REQUIRED and length
 * rules. Returns NULL, or a message for the client written to buf
 * (buflen >= RULES_MESSAGE_MAX): "is required", "must be 3 to 32
 * characters", "must be at most 64 characters", "must be at least 8
 * characters". r NULL: no rule. */
const char *rules_check_text(
    const field_rule *r, const char *s, char *buf, size_t buflen);

/* Checks integer v against r's RULE_REQUIRED and RULE_RANGE. Returns
 * NULL or a message for the client written to buf ("must be 0 to
 * 200"). */
const char *rules_check_int(
    const field_rule *r, long long v, char *buf, size_t buflen);

#endif
