/*
 * ATA disks on the legacy IDE channels (--drive file=IMG[,readonly]): the
 * primary at ports 0x1f0-0x1f7 and 0x3f6 (IRQ 14), the secondary at
 * 0x170-0x177 and 0x376 (IRQ 15), a master and a slave on each, backed by
 * raw image files. PIO only: IDENTIFY, READ/WRITE SECTORS with CHS, LBA28
 * and LBA48 (the EXT commands, with the taskfile's two-deep "HOB" FIFO),
 * READ VERIFY, FLUSH CACHE (fdatasync), SET FEATURES and the few commands
 * drivers send at probe time. It is the disk a kernel for an SMP-era PC
 * reads its file system from (xv6, Linux's ata_piix/pata_legacy).
 *
 * Invariant: every transfer is checked against the image's size before it
 * starts (lba + count <= sectors, else the command aborts with IDNF), and
 * the file is reached only with pread/pwrite at sector offsets inside that
 * range: a guest can never read or write outside its image. Writes go to
 * the file as each sector completes; FLUSH CACHE makes them durable.
 *
 * The image files are opened here, when the device is created, before the
 * sandbox starts: from then on only pread, pwrite and fdatasync on them.
 * Each is locked (flock) so that a second ringvm cannot write it too.
 * A channel with no drive is not registered: its ports float (read 0xff),
 * which is how a driver sees there is no controller there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices_priv.h"

#define SECTOR 512u

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define ER_UNC 0x40
#define DEV_LBA 0x40
#define DEV_SLAVE 0x10
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80

#define HEADS 16u
#define SPT 63u

struct ata_drive {
	bool present, readonly;
	int fd;
	uint64_t sectors;
	const char *file;
	uint8_t status, error;
	uint8_t buf[SECTOR];
	unsigned pos;	    /* bytes of buf transferred so far */
	bool writing;	    /* DRQ is for data from the host */
	uint64_t lba;	    /* the sector in buf (or next to fill) */
	uint32_t remaining; /* sectors of the command still to transfer, buf included */
};

/* Taskfile registers 1-5 keep the previous value too (LBA48's high bytes). */
enum { R_FEATURE, R_NSECT, R_LBAL, R_LBAM, R_LBAH, R_N };

struct ata_channel {
	uint16_t base, ctl;
	unsigned irq;
	uint8_t cur[R_N], prev[R_N];
	uint8_t device, devctl;
	bool intrq; /* the drive wants an interrupt; the line is intrq && !nIEN */
	struct ata_drive drive[2];
};

struct ata {
	struct ata_channel ch[2];
};

static const struct device_ops ata_ops;

static struct ata_drive *selected(struct ata_channel *c)
{
	return &c->drive[(c->device & DEV_SLAVE) ? 1 : 0];
}

static void irq_update(struct vm *vm, struct ata_channel *c)
{
	irq_set(vm, c->irq, c->intrq && !(c->devctl & CTL_NIEN));
}

static void raise_irq(struct vm *vm, struct ata_channel *c)
{
	c->intrq = true;
	irq_update(vm, c);
}

static void finish(struct vm *vm, struct ata_channel *c, struct ata_drive *d)
{
	d->status = ST_DRDY | ST_DSC;
	d->remaining = 0;
	raise_irq(vm, c);
}

static void fail(struct vm *vm, struct ata_channel *c, struct ata_drive *d, uint8_t err)
{
	d->error = err;
	d->status = ST_DRDY | ST_ERR;
	d->remaining = 0;
	raise_irq(vm, c);
}

/* ---- IDENTIFY DEVICE */

static void id_string(uint16_t *w, unsigned words, const char *s)
{
	size_t n = strlen(s);
	for (unsigned k = 0; k < words * 2; k++) {
		char ch = k < n ? s[k] : ' ';
		if (k & 1)
			w[k / 2] |= (uint8_t)ch;
		else
			w[k / 2] = (uint16_t)((uint8_t)ch << 8);
	}
}

static void identify(struct ata_drive *d, unsigned index)
{
	uint16_t w[256];
	memset(w, 0, sizeof w);
	uint64_t cyl = d->sectors / (HEADS * SPT);
	if (cyl > 16383)
		cyl = 16383;
	uint64_t chs = cyl * HEADS * SPT;
	uint64_t lba28 = d->sectors > 0x0fffffffu ? 0x0fffffffu : d->sectors;
	char serial[21];
	snprintf(serial, sizeof serial, "RINGVM%04u", index);
	w[0] = 0x0040; /* fixed disk */
	w[1] = (uint16_t)cyl;
	w[3] = HEADS;
	w[6] = SPT;
	id_string(&w[10], 10, serial);
	id_string(&w[23], 4, "0.1");
	id_string(&w[27], 20, "RINGVM HARDDISK");
	w[47] = 0x8000;		 /* READ/WRITE MULTIPLE: not supported */
	w[49] = 0x0200;		 /* LBA; no DMA */
	w[53] = 0x0007;		 /* words 54-58, 64-70 and 88 are valid */
	w[54] = (uint16_t)cyl;
	w[55] = HEADS;
	w[56] = SPT;
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[64] = 0x0003;		 /* PIO modes 3 and 4 */
	w[80] = 0x007e;		 /* ATA-1 to ATA-6 */
	w[82] = 0x4000;		 /* NOP */
	w[83] = 0x4000 | 1u << 13 | 1u << 12 | 1u << 10; /* FLUSH EXT, FLUSH, LBA48 */
	w[84] = 0x4000;
	w[85] = 0x4000;
	w[86] = 1u << 13 | 1u << 12 | 1u << 10;
	w[87] = 0x4000;
	for (unsigned k = 0; k < 4; k++)
		w[100 + k] = (uint16_t)(d->sectors >> (16 * k));
	memcpy(d->buf, w, sizeof w);
}

/* ---- sector transfers */

static bool load_sector(struct vm *vm, struct ata_channel *c, struct ata_drive *d)
{
	ssize_t n = pread(d->fd, d->buf, SECTOR, (off_t)(d->lba * SECTOR));
	if (n != (ssize_t)SECTOR) {
		stats_event(&vm->stats, "ata", "image read failed");
		fail(vm, c, d, ER_UNC);
		return false;
	}
	d->pos = 0;
	d->status = ST_DRDY | ST_DSC | ST_DRQ;
	raise_irq(vm, c);
	return true;
}

/* The command's first sector and count, from the taskfile. */
static void taskfile_range(const struct ata_channel *c, bool lba48, uint64_t *lba, uint32_t *n)
{
	const uint8_t *r = c->cur, *p = c->prev;
	if (lba48) {
		*lba = (uint64_t)p[R_LBAH] << 40 | (uint64_t)p[R_LBAM] << 32 |
		       (uint64_t)p[R_LBAL] << 24 | (uint64_t)r[R_LBAH] << 16 |
		       (uint64_t)r[R_LBAM] << 8 | r[R_LBAL];
		*n = (uint32_t)p[R_NSECT] << 8 | r[R_NSECT];
		if (!*n)
			*n = 65536;
		return;
	}
	if (c->device & DEV_LBA) {
		*lba = (uint64_t)(c->device & 0xfu) << 24 | (uint64_t)r[R_LBAH] << 16 |
		       (uint64_t)r[R_LBAM] << 8 | r[R_LBAL];
	} else {
		uint64_t cyl = (uint64_t)r[R_LBAH] << 8 | r[R_LBAM];
		uint64_t head = c->device & 0xfu, sect = r[R_LBAL];
		/* Sector 0 does not exist in CHS: point past the end. */
		*lba = sect ? (cyl * HEADS + head) * SPT + sect - 1 : UINT64_MAX / 2;
	}
	*n = r[R_NSECT] ? r[R_NSECT] : 256;
}

/* Where a command ended or failed, the taskfile shows the sector (LBA28). */
static bool start_transfer(struct vm *vm, struct ata_channel *c, struct ata_drive *d, bool lba48,
			   bool write)
{
	uint64_t lba;
	uint32_t n;
	taskfile_range(c, lba48, &lba, &n);
	if (lba >= d->sectors || n > d->sectors - lba) {
		fail(vm, c, d, ER_IDNF | ER_ABRT);
		return false;
	}
	if (write && d->readonly) {
		fail(vm, c, d, ER_ABRT);
		return false;
	}
	d->lba = lba;
	d->remaining = n;
	d->writing = write;
	d->pos = 0;
	return true;
}

static void command(struct vm *vm, struct ata_channel *c, uint8_t cmd, unsigned index)
{
	struct ata_drive *d = selected(c);
	if (!d->present)
		return; /* no device answers: status stays 0 */
	c->intrq = false;
	irq_update(vm, c);
	d->error = 0;
	switch (cmd) {
	case 0xec: /* IDENTIFY DEVICE */
		identify(d, index);
		d->remaining = 1;
		d->writing = false;
		d->lba = UINT64_MAX; /* buf holds no sector */
		d->pos = 0;
		d->status = ST_DRDY | ST_DSC | ST_DRQ;
		raise_irq(vm, c);
		break;
	case 0x20: case 0x21: case 0x24: /* READ SECTORS (EXT) */
		if (start_transfer(vm, c, d, cmd == 0x24, false))
			load_sector(vm, c, d);
		break;
	case 0x30: case 0x31: case 0x34: /* WRITE SECTORS (EXT): DRQ, no interrupt yet */
		if (start_transfer(vm, c, d, cmd == 0x34, true))
			d->status = ST_DRDY | ST_DSC | ST_DRQ;
		break;
	case 0x40: case 0x41: case 0x42: /* READ VERIFY SECTORS (EXT) */
		if (start_transfer(vm, c, d, cmd == 0x42, false))
			finish(vm, c, d);
		break;
	case 0xe7: case 0xea: /* FLUSH CACHE (EXT) */
		if (!d->readonly && fdatasync(d->fd) < 0)
			fail(vm, c, d, ER_ABRT);
		else
			finish(vm, c, d);
		break;
	case 0xef: case 0x91: case 0xe0: case 0xe1: case 0xe3: case 0xe2:
		/* SET FEATURES, INITIALIZE DEVICE PARAMETERS, power modes:
		 * nothing to change in a PIO disk without a spindle. */
		finish(vm, c, d);
		break;
	case 0xe5: /* CHECK POWER MODE: active */
		c->cur[R_NSECT] = 0xff;
		finish(vm, c, d);
		break;
	case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
		d->status = ST_DRDY | ST_DSC;
		d->error = 0x01; /* device 0 passed */
		c->cur[R_NSECT] = c->cur[R_LBAL] = 1;
		c->cur[R_LBAM] = c->cur[R_LBAH] = 0;
		raise_irq(vm, c);
		break;
	default:
		if ((cmd & 0xf0) == 0x10) { /* RECALIBRATE */
			finish(vm, c, d);
			break;
		}
		/* IDENTIFY PACKET (we are not ATAPI), READ MULTIPLE, DMA, ...:
		 * aborted, the way a drive refuses what it does not support. */
		fail(vm, c, d, ER_ABRT);
		break;
	}
}

/* One 16-bit word through the data port. */
static void data_word(struct vm *vm, struct ata_channel *c, uint8_t *w, bool is_write)
{
	struct ata_drive *d = selected(c);
	if (!(d->status & ST_DRQ) || is_write != d->writing) {
		if (!is_write)
			w[0] = w[1] = 0xff;
		return;
	}
	if (is_write)
		memcpy(&d->buf[d->pos], w, 2);
	else
		memcpy(w, &d->buf[d->pos], 2);
	d->pos += 2;
	if (d->pos < SECTOR)
		return;
	if (is_write && pwrite(d->fd, d->buf, SECTOR, (off_t)(d->lba * SECTOR)) != (ssize_t)SECTOR) {
		stats_event(&vm->stats, "ata", "image write failed");
		fail(vm, c, d, ER_UNC);
		return;
	}
	d->remaining--;
	d->lba++;
	d->pos = 0;
	if (!d->remaining) {
		d->status = ST_DRDY | ST_DSC;
		if (is_write)
			raise_irq(vm, c); /* a read's last interrupt came with its data */
		return;
	}
	if (is_write) {
		d->status = ST_DRDY | ST_DSC | ST_DRQ;
		raise_irq(vm, c);
	} else {
		load_sector(vm, c, d);
	}
}

static void soft_reset(struct ata_channel *c)
{
	for (int k = 0; k < 2; k++) {
		c->drive[k].status = c->drive[k].present ? ST_DRDY | ST_DSC : 0;
		c->drive[k].error = 0x01;
		c->drive[k].remaining = 0;
	}
	/* The ATA signature (non-packet device). */
	c->cur[R_NSECT] = c->cur[R_LBAL] = 1;
	c->cur[R_LBAM] = c->cur[R_LBAH] = 0;
	c->device = 0;
}

static void ata_cmd_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		       bool is_write)
{
	struct ata_channel *c = dev;
	struct ata *ata = devices_state(vm, &ata_ops);
	unsigned reg = (unsigned)(addr - c->base);
	unsigned index = (unsigned)(c - ata->ch) * 2 + ((c->device & DEV_SLAVE) ? 1 : 0);
	if (reg == 0) {
		if (len == 1 && !is_write)
			data[0] = 0xff; /* the data port is 16 bits wide */
		for (unsigned k = 0; k + 2 <= len; k += 2)
			data_word(vm, c, &data[k], is_write);
		return;
	}
	struct ata_drive *d = selected(c);
	if (is_write) {
		uint8_t v = data[0];
		if (reg >= 1 && reg <= 5) {
			c->prev[reg - 1] = c->cur[reg - 1];
			c->cur[reg - 1] = v;
			c->devctl &= ~CTL_HOB;
		} else if (reg == 6) {
			c->device = v;
		} else if (reg == 7) {
			command(vm, c, v, index);
		}
		return;
	}
	memset(data, 0, len);
	bool hob = c->devctl & CTL_HOB;
	switch (reg) {
	case 1: data[0] = d->present ? d->error : 0; break;
	case 2: case 3: case 4: case 5:
		data[0] = hob ? c->prev[reg - 1] : c->cur[reg - 1];
		break;
	case 6: data[0] = c->device | 0xa0; break;
	case 7:
		data[0] = d->present ? d->status : 0;
		c->intrq = false; /* reading status acknowledges the interrupt */
		irq_update(vm, c);
		break;
	}
}

static void ata_ctl_io(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		       bool is_write)
{
	struct ata_channel *c = dev;
	if (!is_write) {
		memset(data, 0, len);
		data[0] = selected(c)->present ? selected(c)->status : 0; /* alternate status */
		return;
	}
	uint8_t old = c->devctl;
	c->devctl = data[0];
	if ((old & CTL_SRST) && !(data[0] & CTL_SRST))
		soft_reset(c);
	irq_update(vm, c);
}

/* ---- images and options */

int drive_parse(char *spec, struct vm_drive *out)
{
	/* Parsed in place (as getsubopt does): file= then ends at its comma,
	 * so a file name with a comma cannot be given (QEMU's ",," escape is
	 * not supported). */
	memset(out, 0, sizeof *out);
	for (char *save = NULL, *opt = strtok_r(spec, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "file=", 5) && opt[5]) {
			out->file = opt + 5;
		} else if (!strcmp(opt, "readonly") || !strcmp(opt, "readonly=on")) {
			out->readonly = true;
		} else if (!strcmp(opt, "readonly=off") || !strcmp(opt, "format=raw") ||
			   !strcmp(opt, "if=ide") || !strcmp(opt, "media=disk")) {
			/* QEMU's spellings of what ringvm does anyway */
		} else {
			fprintf(stderr, "ringvm run: --drive: unknown option '%s' (expected "
				"file=IMG[,readonly])\n", opt);
			return -1;
		}
	}
	if (!out->file) {
		fprintf(stderr, "ringvm run: --drive: no file=IMG given\n");
		return -1;
	}
	return 0;
}

static int drive_open(struct vm *vm, struct ata_drive *d, const struct vm_drive *cfg)
{
	const char *f = cfg->file;
	vm->init_status = RINGVM_EXIT_USAGE; /* whatever fails below is the user's input */
	int fd = open(f, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 && errno == EISDIR) {
		fprintf(stderr, "ringvm: --drive file=%s: is a directory, not a disk image\n", f);
		return -1;
	}
	if (fd < 0 && !cfg->readonly && (errno == EACCES || errno == EROFS || errno == EPERM) &&
	    access(f, R_OK) == 0) {
		fprintf(stderr, "ringvm: --drive file=%s: cannot be written (%s); add ,readonly "
			"to attach it read-only\n", f, strerror(errno));
		return -1;
	}
	if (fd < 0) {
		fprintf(stderr, "ringvm: --drive file=%s: %s\n", f, strerror(errno));
		return -1;
	}
	d->fd = fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "ringvm: --drive file=%s: not a regular file (a raw disk image "
			"is one)\n", f);
		return -1;
	}
	/* Root may open anything for writing: a file nobody may write is
	 * read-only by its owner's choice, and needs ,readonly all the same. */
	if (!cfg->readonly && !(st.st_mode & 0222)) {
		fprintf(stderr, "ringvm: --drive file=%s: the file is read-only (mode %04o); add "
			",readonly to attach it read-only\n", f, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_size < (off_t)SECTOR) {
		fprintf(stderr, "ringvm: --drive file=%s: %lld bytes, smaller than one %u-byte "
			"sector\n", f, (long long)st.st_size, SECTOR);
		return -1;
	}
	/* Two VMMs writing one image corrupt it: one writer, or readers only
	 * (flock: between ringvm processes; the lock goes with the fd). */
	if (flock(fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		fprintf(stderr, "ringvm: --drive file=%s: in use by another ringvm (%s)\n", f,
			errno == EWOULDBLOCK ? "locked" : strerror(errno));
		return -1;
	}
	if (st.st_size % SECTOR)
		fprintf(stderr, "ringvm: --drive file=%s: the last %lld bytes are not a whole "
			"sector and stay out of reach\n", f, (long long)(st.st_size % SECTOR));
	d->present = true;
	d->readonly = cfg->readonly;
	d->sectors = (uint64_t)st.st_size / SECTOR;
	d->file = f;
	vm->init_status = 0;
	return 0;
}

static void *ata_create(struct vm *vm)
{
	static const struct { uint16_t base, ctl; unsigned irq; } legacy[2] = {
		{ 0x1f0, 0x3f6, 14 }, { 0x170, 0x376, 15 },
	};
	struct ata *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	for (int k = 0; k < 4; k++)
		a->ch[k / 2].drive[k % 2].fd = -1;
	for (unsigned k = 0; k < vm->cfg.n_drives; k++)
		if (drive_open(vm, &a->ch[k / 2].drive[k % 2], &vm->cfg.drive[k]) < 0)
			goto fail;
	for (int k = 0; k < 2; k++) {
		struct ata_channel *c = &a->ch[k];
		c->base = legacy[k].base;
		c->ctl = legacy[k].ctl;
		c->irq = legacy[k].irq;
		if (!c->drive[0].present && !c->drive[1].present)
			continue;
		if (bus_register(&vm->pio, c->base, 8, ata_cmd_io, c, "ATA") < 0 ||
		    bus_register(&vm->pio, c->ctl, 1, ata_ctl_io, c, "ATA control") < 0)
			goto fail;
	}
	return a;
fail:
	for (int k = 0; k < 4; k++)
		if (a->ch[k / 2].drive[k % 2].fd >= 0)
			close(a->ch[k / 2].drive[k % 2].fd);
	free(a);
	return NULL;
}

static void ata_reset(struct vm *vm, void *s)
{
	struct ata *a = s;
	for (int k = 0; k < 2; k++)
		soft_reset(&a->ch[k]);
}

static void ata_destroy(struct vm *vm, void *s)
{
	struct ata *a = s;
	for (int k = 0; k < 4; k++) {
		struct ata_drive *d = &a->ch[k / 2].drive[k % 2];
		if (d->fd >= 0) {
			if (!d->readonly)
				fdatasync(d->fd);
			close(d->fd);
		}
	}
	free(a);
}

static const struct device_ops ata_ops = { "ATA disk", 130, MACHINE_ISAPC | MACHINE_PC,
					   ata_create, ata_reset, NULL, NULL, ata_destroy };
DEVICE_REGISTER(ata_ops);
