#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

int image_read(struct image *img, const char *path, uint64_t max_len, const char *what)
{
	memset(img, 0, sizeof *img);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ringvm: %s %s: %s\n", what, path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "ringvm: %s %s: not a regular file\n", what, path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		fprintf(stderr, "ringvm: %s %s: the file is empty\n", what, path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max_len) {
		fprintf(stderr, "ringvm: %s %s: %llu bytes is larger than guest RAM (%llu MiB)\n",
			what, path, (unsigned long long)st.st_size,
			(unsigned long long)(max_len >> 20));
		close(fd);
		return -1;
	}
	uint8_t *buf = malloc((size_t)st.st_size);
	if (!buf) {
		fprintf(stderr, "ringvm: %s %s: out of memory\n", what, path);
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ringvm: %s %s: read failed: %s\n", what, path,
				n < 0 ? strerror(errno) : "file shrank while reading");
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	img->data = img->owned = buf;
	img->len = got;
	img->name = path;
	return 0;
}

void image_free(struct image *img)
{
	free(img->owned);
	memset(img, 0, sizeof *img);
}
