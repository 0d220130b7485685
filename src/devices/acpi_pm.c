/*
 * The ACPI fixed-hardware power management blocks the FADT points at
 * (--machine pc): PM1a event (status/enable) at 0x600, PM1a control at
 * 0x604, the PM timer at 0x608. What a guest uses them for here is to
 * switch the machine off: writing SLP_TYP = 5 (the DSDT's \_S5) with
 * SLP_EN to PM1a_CNT ends ringvm with status 0, as pressing the power
 * button would end QEMU. Other sleep states are not offered (the DSDT
 * names only _S5) and such a write is counted and ignored.
 *
 * SCI_EN reads 1: the FADT has no SMI command port, so the machine is in
 * ACPI mode from the start. No event ever sets a PM1 status bit (no power
 * button, no timer overflow interrupt), so the SCI is never raised.
 * The PM timer is the 24-bit 3.579545 MHz counter every ACPI PC has,
 * read from the host's monotonic clock.
 */
#include <stdlib.h>
#include <string.h>

#include "devices_priv.h"

#define PM1_EVT 0x600
#define PM1_CNT 0x604
#define PM_TMR 0x608
#define PM_TMR_HZ 3579545ull
#define SCI_EN 0x0001u
#define SLP_EN (1u << 13)
#define SLP_TYP(v) (((v) >> 10) & 7u)
#define SLP_TYP_S5 5u

struct acpi_pm {
	uint16_t en, cnt;
};

static void le_out(uint8_t *data, unsigned len, uint32_t v, unsigned shift)
{
	memset(data, 0, len);
	v >>= shift;
	memcpy(data, &v, len < 4 ? len : 4);
}

static uint32_t le_in(const uint8_t *data, unsigned len)
{
	uint32_t v = 0;
	memcpy(&v, data, len < 4 ? len : 4);
	return v;
}

static void pm_evt(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	struct acpi_pm *pm = dev;
	unsigned off = (unsigned)(addr - PM1_EVT);
	uint32_t reg = (uint32_t)pm->en << 16; /* status (always 0) | enable << 16 */
	if (!is_write) {
		le_out(data, len, reg, 8 * off);
		return;
	}
	/* Status bits are write-1-to-clear and none is ever set; enable is plain. */
	uint32_t v = le_in(data, len) << (8 * off);
	if (off + len > 2)
		pm->en = (uint16_t)(v >> 16);
}

static void pm_cnt(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	struct acpi_pm *pm = dev;
	unsigned off = (unsigned)(addr - PM1_CNT);
	if (!is_write) {
		le_out(data, len, pm->cnt | SCI_EN, 8 * off);
		return;
	}
	uint32_t v = le_in(data, len) << (8 * off);
	uint16_t mask = off ? 0xff00u : (len >= 2 ? 0xffffu : 0x00ffu);
	uint16_t cnt = (uint16_t)((pm->cnt & ~mask) | (v & mask));
	pm->cnt = cnt & ~SLP_EN; /* SLP_EN is write-only */
	if (!(cnt & SLP_EN))
		return;
	if (SLP_TYP(cnt) == SLP_TYP_S5)
		vm_request_stop(vm, RINGVM_EXIT_POWEROFF, "guest powered off through ACPI (S5)");
	else
		stats_event(&vm->stats, "acpi", "sleep state not offered");
}

static void pm_tmr(struct vm *vm, void *dev, uint64_t addr, uint8_t *data, unsigned len,
		   bool is_write)
{
	if (is_write)
		return;
	uint64_t ns = dev_now(vm);
	/* ns * 3579545 / 1e9 without overflowing for ~160 years of uptime */
	uint64_t ticks = (ns / 1000000000ull) * PM_TMR_HZ +
			 (ns % 1000000000ull) * PM_TMR_HZ / 1000000000ull;
	le_out(data, len, (uint32_t)ticks & 0xffffffu, 8 * (unsigned)(addr - PM_TMR));
}

static void *acpi_pm_create(struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof *pm);
	if (!pm)
		return NULL;
	if (bus_register(&vm->pio, PM1_EVT, 4, pm_evt, pm, "ACPI PM1a event") < 0 ||
	    bus_register(&vm->pio, PM1_CNT, 2, pm_cnt, pm, "ACPI PM1a control") < 0 ||
	    bus_register(&vm->pio, PM_TMR, 4, pm_tmr, pm, "ACPI PM timer") < 0) {
		free(pm);
		return NULL;
	}
	return pm;
}

static void acpi_pm_destroy(struct vm *vm, void *s)
{
	free(s);
}

static void acpi_pm_reset(struct vm *vm, void *s)
{
	memset(s, 0, sizeof(struct acpi_pm));
}

static const struct device_ops acpi_pm_ops = { "ACPI PM", 160, MACHINE_PC, acpi_pm_create,
					       acpi_pm_reset, NULL, NULL, acpi_pm_destroy };
DEVICE_REGISTER(acpi_pm_ops);
