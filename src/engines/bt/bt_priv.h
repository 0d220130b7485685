/*
 * What the bt engine's files share: the VMM window layout, the translation
 * cache with its block map and cache-address map, and the engine state.
 *
 * Address space (B = 0: guest linear x is host address x):
 *   [0, BT_WIN_BASE)            guest linear space, shadow-mapped on demand
 *   [BT_WIN_BASE, 4 GiB)        the VMM window: vCPU page, translation cache
 * Guest data segments stop below the window (segment truncation); guest
 * accesses into it fault and are emulated on the guest's own memory. The
 * code segment translated code runs on is flat (a truncated CS costs ~16%
 * here), which is safe because only translated code ever runs on it.
 */
#ifndef RINGVM_BT_PRIV_H
#define RINGVM_BT_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "cpu/insn.h"
#include "native/icache.h"
#include "native/native.h"
#include "native/shadow.h"

/* The top 4 MiB, as VMware's. It was 16 MiB, and Linux's i386 kernel keeps
 * its cpu_entry_area (the entry stack every system call and interrupt
 * runs on, the TSS) at 0xff400000 and up: each of those accesses hit the
 * window and was emulated (~2,000 VMM calls per fork+exec). What Linux
 * has in the top 4 MiB (fixmap) it touches rarely. */
#define BT_WIN_BASE 0xffc00000u
#define BT_WIN_SIZE (4u << 20)
#define BT_VPAGE BT_WIN_BASE		     /* struct bt_vpage */
#define BT_TABLE_K (BT_WIN_BASE + 0x1000u)  /* indirect lookup, guest kernel code */
#define BT_TABLE_U (BT_WIN_BASE + 0x41000u) /* indirect lookup, guest user code */
#define BT_TABLE_ENTRIES 0x10000u	     /* indexed by the target's low 16 bits */
#define BT_CACHE (BT_WIN_BASE + 0x100000u)  /* translation cache, to the top */
#define BT_CACHE_END 0xfffff000u	   /* the last page stays unmapped */
/* Guest user-mode data segments stop here (the kit's kernel split), so
 * supervisor pages of a higher-half kernel stay out of reach natively. */
#define BT_USER_TOP 0xc0000000u

/* LDT slot of the code segment translated code runs on (below the slots
 * guest selectors use, NATIVE_LDT_FIRST and up). */
#define BT_CODE_SLOT 15
#define BT_DATA_SLOT 14 /* the VMM data segment (the vCPU page) */

/* glibc's thread pointer is GS's base, and its TLS variables sit at
 * negative offsets that wrap around 4 GiB (%gs:-0x3c): natively, beyond
 * any segment truncated below the kernel half, so each one faulted. In
 * guest user mode the host's GS is based BT_GS_REBASE below the guest's,
 * and translated code adds BT_GS_REBASE to the displacement of every
 * GS-relative operand: offsets from -BT_GS_REBASE up are native. A GS
 * instruction that cannot be rewritten so is a VMM call, never copied. */
#define BT_GS_REBASE 0x10000u

/* native_enter()'s return value when translated code called the VMM. */
#define BT_STOP_CALL 3
/* ... when the signal callback ended the run (state already in the cpu). */
#define BT_STOP_SIGNAL 4

/* The vCPU page, at BT_VPAGE: what emitted code reads and writes.
 * Translated code reads it through CS (flat) and, in guest kernel mode
 * only, writes it through GS: while the guest kernel runs, GS holds the
 * VMM data segment (base BT_VPAGE, one page), VMware's reserved segment
 * register. Guest kernel instructions with a GS override are emulated;
 * the guest's own GS selector is in gsel[] for mov r, gs. In guest user
 * mode GS is the guest's (glibc's TLS) and no inline sequence writes. */
struct bt_vpage {
	uint32_t exit_id;     /* written by a 64-bit exit snippet */
	uint32_t pad;
	uint64_t exit64;      /* &bt_exit64, read by exit snippets (jmp [rip+x]) */
	uint32_t vif;	      /* the guest's IF: 0 or EFLAGS_IF */
	uint32_t vflags;      /* guest EFLAGS bits the host does not hold, but IF */
	uint32_t irq_pending; /* an interrupt waits (set at each entry) */
	uint32_t spill;	      /* scratch for inline sequences */
	uint16_t data_sel;    /* the VMM data selector */
	uint16_t gsel[6];     /* the guest's selectors (mov r, sreg) */
	/* Entry (bt_enter_asm and the trampoline). kick is where the
	 * native layer's signal handler records a kick (native_host.kick),
	 * so that the trampoline, running as guest code, can see it. */
	uint32_t kick;
	uint32_t entry_sahf; /* nonzero: the trampoline sets the flags from entry_ahal */
	uint32_t entry_ahal; /* AH = SF ZF AF PF CF, AL = OF: add al, 0x7f; sahf */
	uint32_t entry_gpr[8];
	uint32_t entry_eip;
	/* CR0..CR4 as the core holds them (set at each entry: only the core
	 * changes them), for an inline mov r32, crN of the guest kernel. */
	uint32_t cr[5];
	uint64_t tsc_offset;  /* guest TSC - host TSC (inline rdtsc; set at each entry) */
	/* Per segment register: 1 + the segment-load site (bt_segsite) whose
	 * inline load ran last since the VMM looked, or 0. Written by
	 * translated code (guest kernel only, through GS), read and cleared
	 * by regs_in at every exit (bt_segsite_apply). */
	uint32_t seg_site[SREG_COUNT];
};
#define BT_TRAMP (BT_VPAGE + 0x800u) /* the entry trampoline, 32-bit code */
#define BT_EXIT_BAIL 0xffffffffu     /* exit id: kicked before guest code ran */

/* What bt_enter_asm loads before the far jump (offsets fixed in bt_asm.S). */
struct bt_entry {
	uint16_t sel[6];
	uint32_t fs_base, gs_base;
	uint32_t esp;
	uint32_t eflags; /* the host-held bits, | 0x202 */
	uint8_t reload;	 /* bit s: sreg s's LDT slot was rewritten, load it */
};
/* Guest EFLAGS bits that live in the host's EFLAGS while translated code
 * runs; the rest is virtual (vif, vflags). */
#define BT_HOST_FLAGS (EFLAGS_ARITH | EFLAGS_DF | EFLAGS_AC)
#define BT_VPAGE_PTR ((struct bt_vpage *)(uintptr_t)BT_VPAGE)

/* Exit kinds: what the VMM does when translated code leaves at an exit. */
enum bt_exit_kind {
	EX_BRANCH,  /* continue at eip; the exit's jmp is patched to chain */
	EX_EMULATE, /* the instruction at eip is emulated by the core */
	EX_MISS,    /* indirect lookup missed: target in ECX, ECX/EDX spilled */
	EX_IRQ,	    /* continue at eip, where an interrupt may be taken: never chained */
};

#define BT_BATCH 7 /* sensitive instructions a VMM call emulates after its own */
#define BT_BATCH_INVLPG 0x80

struct bt_exit {
	uint32_t eip;
	uint32_t src_lin, src_ppn; /* the block it leaves (src_ppn ~0: no block's) */
	uint8_t kind;
	uint8_t why;	 /* EX_EMULATE: enum insn_sens or BT_WHY_* */
	uint32_t jmp_at; /* EX_BRANCH: cache address of its jmp rel32 */
	uint32_t src_at; /* the jcc rel32 / jmp rel32 that leads to the stub, or 0:
			    chaining patches it too, saving a jump per transfer */
	/* EX_EMULATE of a plain in/out in guest kernel code: done by the run
	 * loop itself (io_size 0: not such an exit). */
	uint8_t io_size, io_out, io_dx, len;
	uint16_t io_port;
	/* EX_EMULATE: the sensitive instructions right after this one, which
	 * the same VMM call emulates too (one round trip for a guest's run of
	 * segment loads), by length, | BT_BATCH_INVLPG for an INVLPG (whose
	 * flush the run loop must follow); 0 ends the list. */
	uint8_t batch[BT_BATCH];
	/* EX_EMULATE of an inline segment load's slow path: 1 + its site
	 * (bt_segsite), which the VMM fills once the core has done the load;
	 * 0 for any other exit. */
	uint32_t site;
	/* EX_EMULATE of a plain INT imm8 (BT_GATE_INT, its vector) or 32-bit
	 * IRET (BT_GATE_IRET): the run loop calls the core's delivery or
	 * return directly (gate.c). */
	uint8_t gate, gate_vec;
	/* EX_EMULATE of INVLPG in guest kernel code: its operand, so that the
	 * run loop does it without the core. */
	bool invlpg;
	struct insn_mem inv;
};

#define BT_GATE_INT 1
#define BT_GATE_IRET 2
#define BT_GATE_DIV 3 /* an adapted div/idiv r32 (gate_vec: the register) */

/* EX_EMULATE reasons beyond enum insn_sens. */
#define BT_WHY_INDIRECT 32 /* ret, jmp/call r/m */
#define BT_WHY_INVALID 33  /* does not decode */
#define BT_WHY_GS 34	   /* a GS override in guest kernel mode */
#define BT_WHY_ADAPT 35	   /* a copied instruction that kept faulting */
#define BT_WHY_N 36

/* One cache address where a signal can land, and how to get the exact
 * guest state at guest EIP eip from the registers there. */
struct bt_pc {
	uint32_t host;
	uint32_t eip;
	uint8_t fix;		/* PC_* */
	uint8_t ecx_xmm, edx_xmm; /* the guest's ECX is in XMM0, its EDX in XMM1 */
};

enum {
	PC_EXACT, /* the registers are the guest's */
	PC_SPILL, /* ... once ECX/EDX are reloaded from XMM0/XMM1 */
	PC_MISS,  /* between an indirect branch and its target: the guest is
		     at EIP = ECX, once ECX/EDX are reloaded from XMM0/XMM1 */
	PC_STEP,  /* no exact state here (two positions of an indirect-branch
		     sequence): a kick single-steps to the next one */
};

/* Scratch registers: inline sequences spill the guest's ECX to XMM0 and
 * its EDX to XMM1 (movd: no flags, no memory). Guest x87/SSE instructions
 * are emulated by the core, never copied, so the host's XMM registers hold
 * no guest state; a sequence never spans a VMM call. Indirect transfers
 * leave the target in ECX with ECX/EDX spilled so, and the destination's
 * check reloads them. */

struct bt_block {
	uint32_t lin, eip, cs_base; /* guest linear address, EIP, CS base */
	uint8_t user;		    /* translated for CPL 3 */
	bool dead;
	uint32_t ppage;		    /* guest physical page its code is on */
	uint32_t host, host_end;    /* [host, host_end) in the cache */
	uint32_t ind;		    /* entry for indirect transfers (checks ECX) */
	uint32_t gen;		    /* address-space generation its mapping was checked in */
	struct bt_block *hnext;	    /* hash chain */
	struct bt_block *pnext;	    /* blocks of the same physical page */
	struct bt_block *lnext;	    /* blocks of the same linear page (dead ones too) */
};

#define BT_HASH_BITS 16
#define BT_BLOCK_MAX_INSNS 32
#define BT_VOLATILE_AFTER 8 /* invalidations in a row before a page is interpreted */
/* Invalidations further apart than this do not add up, and a volatile page
 * is given translations again once it has been interpreted this long: Linux
 * patches its own text now and then (alternatives, static keys, ftrace) and
 * a page patched eight times over a whole boot is still hot code. */
#define BT_VOLATILE_MS 50
#define BT_ADAPT_AFTER 4    /* faults of one copied instruction before it becomes a VMM call */
#define BT_ADAPT_BITS 10
#define BT_STREAK 8
#define BT_INTERP_BURST 256	/* doubled while streaks recur, up to 64 Ki */
#define BT_ADAPT_CLEAN 64   /* ... and fault-free emulations before it is copied again */

/* LDT slots chosen by content (slots.c). */
#define BT_SEG_MEMO 4
#define BT_SLOT_FIRST NATIVE_LDT_FIRST
#define BT_SLOT_BUCKETS 1024
struct bt_slot_key {
	uint32_t base, limit; /* limit as clipped */
	uint8_t type, db, present;
};
struct bt_slots {
	struct bt_slot_key key[NATIVE_LDT_SLOTS];
	bool used[NATIVE_LDT_SLOTS];
	uint16_t next[NATIVE_LDT_SLOTS]; /* hash chain, 0 ends it */
	uint16_t head[BT_SLOT_BUCKETS];
	unsigned clock; /* next victim when the pool is full */
};

/* An inline segment load of the guest kernel (segsite.c): mov sreg, r16 or
 * pop sreg into ES, DS, FS or GS. Its code compares the selector and the
 * guest's current descriptor bytes with what the site was filled with and,
 * if all match, loads the host selector the VMM chose for that descriptor;
 * otherwise it is a VMM call (the core does the load, raising whatever the
 * guest's fault is) after which the VMM fills the site. The at_* fields are
 * cache addresses of the immediates the fill patches. */
struct bt_segsite {
	struct seg seg;	     /* what the load gives: the core's answer at the fill */
	uint32_t at_sel;     /* lea ecx, [ecx - sel] */
	uint32_t at_dlo, at_dhi; /* mov ecx, cs:[descriptor], cs:[descriptor + 4] */
	uint32_t at_lo, at_hi;	 /* lea ecx, [ecx - dword] */
	uint32_t at_gsel;    /* mov word gs:[gsel + 2 * sreg], sel */
	uint32_t at_hsel;    /* mov ecx, host selector (not for GS) */
	uint16_t hsel;	     /* the host selector loaded */
	uint8_t sreg;
	bool valid;
};
/* A site's selector compare never matches while it is unfilled (movzx
 * gives 0..0xffff). */
#define BT_SEGSITE_NONE 0x10000u

/* gate.c: the answers of the core's last delivery through each vector
 * (INT n or an exception from ring 3 to ring 0, #DE at ring 0) and of its
 * last IRET from ring 0 to ring 0 and to ring 3, with the guest bytes
 * they depended on (gate, descriptors, TSS.SS0, popped selectors). A later
 * one whose bytes are all the same gets the same answer without the core;
 * any difference goes to the core. */
struct bt_intcache {
	uint32_t gate[2], cs_d[2], ss_d[2];
	struct seg cs, ss; /* as the core loaded them (accessed bit, RPL) */
	bool valid;
};
struct bt_iretcache {
	uint32_t cs_d[2], ss_d[2];
	struct seg cs, ss; /* ss: the ring-3 return only */
	bool valid;
};

struct bt_gates {
	struct bt_intcache intc[256]; /* INT n from ring 3, per vector */
	struct bt_intcache excu[32];  /* exceptions from ring 3 to ring 0 */
	struct bt_intcache de_same;   /* #DE from ring 0 to a ring-0 handler */
	struct bt_iretcache iret_same, iret_user;
};

struct bt_counts {
	uint64_t blocks, cache_bytes, chained, lookups_filled, misses, flushes, invalidations, volatile_pages,
		 volatile_retried;
	uint64_t hidden_faults, emulated_faults, kicks, interpreted, inline_sens, sigsys, fast_io;
	uint64_t adapted, as_switches, unchained, batched, fast_invlpg, chains_kept, lookups_kept;
	uint64_t slot_writes, slot_reuses;
	uint64_t site_fills, site_drops, fast_gates, cached_gates;
	uint64_t calls[BT_WHY_N];
};

struct bt {
	struct cpu cpu;
	struct native_icache ic; /* guest code the core decoded, as it was */
	struct native_host nh;
	struct shadow sh;
	struct vcpu *vcpu;
	uint16_t code_sel;

	/* The translation cache (append only until a flush). */
	uint32_t cache_used; /* next free cache address */
	struct bt_block *blocks;
	size_t nblocks, capblocks;
	struct bt_block *hash[1u << BT_HASH_BITS];
	struct bt_block **page_blocks; /* per guest physical page */
	struct bt_block **lin_blocks;  /* per guest linear page: blocks translated from it */
	uint8_t *smc_count;	       /* per guest physical page: invalidations in a row */
	uint32_t *smc_last_ms;	       /* per guest physical page: the last one's time, or
					* when it turned volatile (host ms, wraps) */
	uint32_t *code_pages;	       /* physical pages flagged as code */
	size_t ncode_pages, capcode_pages;
	struct bt_pc *pcs;
	size_t npcs, cappcs;
	struct bt_exit *exits;
	size_t nexits, capexits;
	/* Address spaces: translations survive CR3 writes. Each CR3 write
	 * starts a generation; a block is used in a new generation only after
	 * a walk shows its linear page still maps its physical page, and
	 * every chain (which skips that check) is undone. */
	uint32_t gen;
	/* Exits whose jumps are patched; same_page: from and to blocks of one
	 * linear and physical page (bt_new_address_space). */
	struct bt_chained { uint32_t exit_id, to_lin; bool same_page; } *chained;
	size_t nchained, capchained;
	/* Chains into global pages: kept at every CR3 write without a look
	 * (INVLPG kills their target block instead), undone by a full flush. */
	struct bt_chained *chained_g;
	size_t nchained_g, capchained_g;

	/* Set by the signal callback for the run loop. */
	bool sig_emulate; /* emulate the instruction at the cpu's EIP */
	bool stepping;	  /* single-stepping to a recorded state for a kick */
	bool guest_step;  /* the guest set TF natively (POPF): its single-step is the core's */
	bool fill_lookup; /* enter the next block into the lookup table */
	uint32_t miss_stub; /* cache address of the shared lookup-miss exit */
	uint32_t table_cs_base; /* the CS base the lookup tables are valid for */
	uint32_t *filled;	/* lookup entries filled since the last reset (address) */
	uint32_t *filled_lin;	/* ... and the linear address of each one's block */
	size_t nfilled, capfilled;
	bool tables_clean;	/* every entry leads to the miss exit */
	/* Code whose every instruction faults (wild jumps into data, MMIO
	 * loops): after BT_STREAK faults in a row, the core runs the next
	 * BT_INTERP_BURST instructions, each costing far less than a signal. */
	unsigned fault_streak, interp_budget, interp_burst;
	/* Adaptive translation: guest linear addresses of copied instructions
	 * that faulted (for the guest: #DE, #PF, MMIO...), with counts; those
	 * that reach BT_ADAPT_AFTER are translated as VMM calls from then on,
	 * which costs ~1/20 of a host signal. Direct-mapped, tag 0 = empty. */
	struct { uint32_t lin, clean; uint8_t faults, rounds; } adapt[1u << BT_ADAPT_BITS];
	int chain_from;	  /* exit whose jmp may be chained to the next block, or -1 */
	char msg[160];
	/* Per segment register, the last BT_SEG_MEMO (guest segment, CPL) ->
	 * host selector answers, most recent first: a guest's system call
	 * goes through three (user segment at CPL 3 and at CPL 0, kernel
	 * segment at CPL 0), each found here without a slot lookup. Cleared
	 * when a slot is reused. */
	struct bt_segmemo {
		struct seg seg;
		uint16_t sel;
		uint8_t cpl;
		bool ok;
	} seg_memo[SREG_COUNT][BT_SEG_MEMO];
	uint16_t seg_sel[SREG_COUNT]; /* what the next entry loads (busy slots) */
	uint32_t batch_fault_at; /* a batch run by the core faulted at this linear
				  * address: the next call there runs alone (or ~0) */
	uint8_t seg_reload; /* load these sregs even if they hold the selector (bit per sreg) */
	struct bt_slots slots;
	/* Inline segment-load sites (segsite.c), emptied by a flush; the
	 * descriptor tables the valid ones were filled under (a change of
	 * GDTR or LDTR drops them all: their descriptor addresses moved). */
	struct bt_segsite *sites;
	size_t nsites, capsites, nsites_valid;
	struct bt_gates *gates; /* gate.c's kept answers (allocated apart: 24 KiB) */
	struct dtr site_gdtr;
	struct seg site_ldtr;
	uint8_t seg_cache_cpl;
	bool seg_cache_ok;
	struct bt_counts n, flushed;
	uint64_t emulated;
};

/* bt.c */
int bt_run_loop(struct bt *t);
#define BT_FLAT_STOP 100 /* bt_run_loop reached cpu.stop_eip */
#define BT_FLAT_EXC 101	 /* ... the core handed an exception back (exc_return) */

/* slots.c: the LDT slot (host selector in *sel) whose descriptor is guest
 * data segment g with its limit clipped to limit_max, written if no slot
 * says that yet; never one of busy[]. Returns 0 or -1 (errno). */
void bt_slots_reset(struct bt_slots *s);
int bt_slot_get(struct bt *t, const struct seg *g, uint32_t limit_max,
		const uint16_t busy[SREG_COUNT], uint16_t *sel);

/* bt.c: the host selector for guest data segment g at the current CPL. */
int bt_data_sel(struct bt *t, const struct seg *g, uint16_t *out);

/* gate.c: true if done, false (nothing changed) for the ordinary path */
bool bt_gate_int(struct bt *t, uint8_t vec, uint32_t len);
bool bt_gate_iret(struct bt *t, uint32_t len);
bool bt_gate_divzero(struct bt *t, uint8_t reg);
bool bt_gate_exception(struct bt *t);

/* segsite.c */
void bt_segsites_reset(struct bt *t);
void bt_segsites_drop(struct bt *t);
void bt_segsites_check_tables(struct bt *t);
void bt_segsite_fill(struct bt *t, uint32_t id);
void bt_segsite_apply(struct bt *t);

/* translate.c */
struct bt_block *bt_lookup(struct bt *t, uint32_t lin, uint32_t cs_base, bool user);
struct bt_block *bt_translate(struct bt *t);
void bt_chain(struct bt *t, int exit_id, const struct bt_block *to);
void bt_flush(struct bt *t);
void bt_new_address_space(struct bt *t, uint32_t old_cr3, bool keep_global);
void bt_tables_reset(struct bt *t);
void bt_lookup_fill(struct bt *t, const struct bt_block *b);
void bt_invalidate_page(struct bt *t, uint32_t ppn, bool written);
void bt_invalidate_lin(struct bt *t, uint32_t lin);
const struct bt_pc *bt_pc_find(const struct bt *t, uint32_t host);
void bt_adapt_note(struct bt *t, uint32_t lin);
void bt_adapt_clean(struct bt *t, uint32_t lin);
bool bt_adapted(const struct bt *t, uint32_t lin);

extern uint32_t bt_gregs[8], bt_gflags, bt_xmm[2];
extern struct { uint32_t off; uint16_t sel; } __attribute__((packed)) bt_tramp_far;
void bt_exit64(void);
int bt_enter_asm(const struct bt_entry *e);

#endif
