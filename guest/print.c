/* A small printf: enough for test messages, no floating point. */
#include "kit.h"

struct sink {
	char *buf;      /* NULL: write to the serial port */
	uint32_t size, len;
};

static void put(struct sink *s, char c)
{
	if (!s->buf)
		serial_putc(c);
	else if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

static void put_num(struct sink *s, uint64_t v, unsigned base, int neg, int width, char pad)
{
	char tmp[24];
	int n = 0;
	do {
		uint64_t r;
		if (v >> 32) {
			v = udivmod64(v, base, &r);
		} else {
			/* The common case: one DIV instruction, cheap on slow engines. */
			r = (uint32_t)v % base;
			v = (uint32_t)v / base;
		}
		tmp[n++] = "0123456789abcdef"[r];
	} while (v);
	if (neg)
		tmp[n++] = '-';
	for (int i = n; i < width; i++)
		put(s, pad);
	while (n)
		put(s, tmp[--n]);
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'c':
			put(s, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			int n = 0;
			for (; str && str[n]; n++)
				;
			for (int i = n; i < width; i++)
				put(s, ' ');
			for (int i = 0; i < n; i++)
				put(s, str[i]);
			break;
		}
		case 'd': {
			int64_t v = lng >= 2 ? va_arg(ap, int64_t) : va_arg(ap, int32_t);
			put_num(s, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'p': {
			uint64_t v = lng >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
			if (*fmt == 'p') {
				put(s, '0');
				put(s, 'x');
				width = 8;
				pad = '0';
			}
			put_num(s, v, *fmt == 'u' ? 10 : 16, 0, width, pad);
			break;
		}
		case '%':
			put(s, '%');
			break;
		default:
			put(s, '%');
			if (*fmt)
				put(s, *fmt);
			else
				fmt--;
		}
	}
	if (s->buf && s->size)
		s->buf[s->len < s->size ? s->len : s->size - 1] = 0;
	return (int)s->len;
}

int kvsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap)
{
	struct sink s = { buf, size, 0 };
	return format(&s, fmt, ap);
}

int ksnprintf(char *buf, uint32_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* One line at a time to serial_write: one console hypercall per line when
 * paravirtual. Longer output goes through a byte at a time. */
void kprintf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = kvsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if ((uint32_t)n < sizeof buf) {
		serial_write(buf, (uint32_t)n);
		return;
	}
	struct sink s = { NULL, 0, 0 };
	va_start(ap, fmt);
	format(&s, fmt, ap);
	va_end(ap);
}
