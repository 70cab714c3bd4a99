/* Runs a harness over files without libFuzzer: every file named on the
 * command line, and every regular file in a directory named there. The
 * build without CORE_FUZZ links each harness with this, so the committed
 * corpora (regressions included) run as ordinary tests under any compiler
 * and its sanitizers. Exits 0 when every input ran; a finding aborts. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

#define REPLAY_MAX_INPUT (1u << 20)

static int
run_file(const char *path, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* A copy of exactly n bytes, so ASan sees a read past the input. */
	uint8_t *copy = malloc(n ? n : 1);
	if (copy == NULL) {
		return -1;
	}
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

static int
run_dir(const char *dir, uint8_t *buf, int *count)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		perror(dir);
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL && rc == 0) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = run_file(path, buf);
			(*count)++;
		}
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	int count = 0, rc = 0;
	if (buf == NULL) {
		return 1;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc && rc == 0; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i], buf, &count);
		} else {
			rc = run_file(argv[i], buf);
			count++;
		}
	}
	free(buf);
	printf("%d input(s) run\n", count);
	return rc == 0 && count > 0 ? 0 : 1;
}
