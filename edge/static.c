#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/log.h"
#include "static.h"

#define MAX_FILES 64
#define MAX_FILE_BYTES (1024 * 1024)

static edge_file files[MAX_FILES];
static size_t n_files;

static const struct {
	const char *ext;
	const char *type;
	bool page;
} types[] = {
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", false},
    {".css", "text/css; charset=utf-8", false},
    {".svg", "image/svg+xml", false},
    {".png", "image/png", false},
    {".ico", "image/x-icon", false},
    {".json", "application/json", false},
    {".txt", "text/plain; charset=utf-8", false},
    {".webmanifest", "application/manifest+json", false},
};

static bool
name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len >= sizeof(files[0].name) || n[0] == '.') {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-')) {
			return false;
		}
	}
	return true;
}

static int
type_of(const char *name, edge_file *f)
{
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]);
	     i++) {
		if (strcmp(dot, types[i].ext) == 0) {
			f->type = types[i].type;
			f->page = types[i].page;
			return 0;
		}
	}
	return -1;
}

static int
read_file(int dirfd, const char *name, edge_file *f)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAX_FILE_BYTES) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	size_t len = (size_t) st.st_size;
	unsigned char *data = malloc(len + 1);
	size_t got = 0;
	while (data != NULL && got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR) {
				continue;
			}
			break;
		}
		got += (size_t) n;
	}
	close(fd);
	if (data == NULL || got != len) {
		free(data);
		return -1;
	}
	unsigned char h[8];
	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	char hex[17];
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(f->etag, sizeof(f->etag), "\"%s\"", hex);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = data;
	f->len = len;
	return 0;
}

int
edge_static_load(const char *dir)
{
	edge_static_free();
	if (dir == NULL || dir[0] == '\0') {
		return 0;
	}
	DIR *d = opendir(dir);
	if (d == NULL) {
		core_log_warn("web frontend directory %s: %s; serving the API "
		              "only",
		    dir, strerror(errno));
		return 0;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		edge_file f = {0};
		if (!name_ok(de->d_name) || type_of(de->d_name, &f) != 0) {
			continue;
		}
		if (n_files == MAX_FILES) {
			core_log_error(
			    "web frontend directory %s: more than %d "
			    "files",
			    dir, MAX_FILES);
			rc = -1;
			break;
		}
		if (read_file(dirfd(d), de->d_name, &f) != 0) {
			if (errno == ELOOP || errno == EFBIG) {
				/* Symlinks and oversized files are skipped. */
				core_log_warn(
				    "web frontend: skipping %s", de->d_name);
				continue;
			}
			core_log_error("web frontend: cannot read %s/%s: %s",
			    dir, de->d_name, strerror(errno));
			rc = -1;
			break;
		}
		files[n_files++] = f;
	}
	closedir(d);
	if (rc != 0) {
		edge_static_free();
		return -1;
	}
	return (int) n_files;
}

const edge_file *
edge_static_find(const char *path)
{
	if (path[0] != '/') {
		return NULL;
	}
	const char *name = path[1] == '\0' ? "index.html" : path + 1;
	for (size_t i = 0; i < n_files; i++) {
		if (strcmp(files[i].name, name) == 0) {
			return &files[i];
		}
	}
	return NULL;
}

bool
edge_static_etag_match(const char *inm, const char *etag)
{
	/* A comma-separated list of (possibly weak) tags, or "*". */
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',') {
			p++;
		}
		if (*p == '*') {
			return true;
		}
		if (strncmp(p, "W/", 2) == 0) {
			p += 2;
		}
		if (strncmp(p, etag, elen) == 0 &&
		    (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ')) {
			return true;
		}
		while (*p != '\0' && *p != ',') {
			p++;
		}
	}
	return false;
}

void
edge_static_free(void)
{
	for (size_t i = 0; i < n_files; i++) {
		free(files[i].data);
	}
	memset(files, 0, sizeof(files));
	n_files = 0;
}
