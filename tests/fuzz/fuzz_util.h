/* Shared by the fuzz harnesses: a failed property is a finding. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <protobuf-c/protobuf-c.h>

/* Aborts, naming the place, when cond is false. libFuzzer saves the input
 * that did it as crash-<sha1>, as for a sanitizer report. */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: property failed: %s\n",       \
			    __FILE__, __LINE__, #cond);                       \
			abort();                                              \
		}                                                             \
	} while (0)

/* Whether field f of m may be read: a member of a oneof only when it is
 * the one set (the members share their memory). */
static inline bool
fuzz_field_present(
    const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
		return true;
	}
	const uint32_t *which =
	    (const uint32_t *) (const void *) ((const char *) m +
	                                       f->quantifier_offset);
	return *which == f->id;
}

/* The entry points every harness defines (libFuzzer's interface). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
