#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

/* Reads to end of file, at most max_len bytes (+1 to tell "larger"). The
 * size is found by reading, not from st_size: /proc and sysfs files say 0. */
static int read_all(int fd, struct image *img, uint64_t max_len, const char *what,
		    const char *path, size_t hint)
{
	size_t cap = hint ? hint + 1 : 65536, got = 0;
	if (cap > max_len + 1)
		cap = (size_t)max_len + 1;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "ringvm: %s %s: out of memory\n", what, path);
			return -1;
		}
		if (got == cap) {
			if (cap > max_len)
				break; /* one byte more than max_len: too large */
			size_t ncap = cap * 2 > max_len + 1 ? (size_t)max_len + 1 : cap * 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				buf = NULL;
				continue;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ringvm: %s %s: read failed: %s\n", what, path, strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max_len) {
		fprintf(stderr, "ringvm: %s %s: larger than guest RAM (%llu MiB)\n", what, path,
			(unsigned long long)(max_len >> 20));
		free(buf);
		return -1;
	}
	if (got == 0) {
		fprintf(stderr, "ringvm: %s %s: the file is empty\n", what, path);
		free(buf);
		return -1;
	}
	img->data = img->owned = buf;
	img->len = got;
	img->name = path;
	return 0;
}

int image_read(struct image *img, const char *path, uint64_t max_len, const char *what)
{
	memset(img, 0, sizeof *img);
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is
	 * refused below like any other file that is not a regular one. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "ringvm: %s %s: %s\n", what, path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "ringvm: %s %s: %s\n", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "ringvm: %s %s: not a regular file%s\n", what, path,
			S_ISDIR(st.st_mode) ? " (a directory)" : S_ISFIFO(st.st_mode) ? " (a FIFO)" : "");
		close(fd);
		return -1;
	}
	/* A regular file that says it is too large is refused before reading. */
	if ((uint64_t)st.st_size > max_len) {
		fprintf(stderr, "ringvm: %s %s: %llu bytes is larger than guest RAM (%llu MiB)\n",
			what, path, (unsigned long long)st.st_size,
			(unsigned long long)(max_len >> 20));
		close(fd);
		return -1;
	}
	int r = read_all(fd, img, max_len, what, path, (size_t)st.st_size);
	close(fd);
	return r;
}

void image_free(struct image *img)
{
	free(img->owned);
	memset(img, 0, sizeof *img);
}
