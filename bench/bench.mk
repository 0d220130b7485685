# build/bench/native_compute: the guest kit's compute workload, run natively.
# guest/compute.c gets the guest's flags (GUEST_CFLAGS, guest/guest.mk) minus
# the freestanding ones, so both builds compile the same code the same way.
NATIVE_COMPUTE_CFLAGS := $(filter-out -ffreestanding -nostdlib,$(GUEST_CFLAGS))
NATIVE_DRIVER_CFLAGS  := -std=gnu11 -m32 -O2 -Wall -Wextra -Werror -fno-pie -Iguest

build/bench/native_compute: bench/native_compute.c bench/clock.h build/bench/compute_native.o guest/compute.h
	@mkdir -p $(dir $@)
	$(CC) $(NATIVE_DRIVER_CFLAGS) -no-pie -o $@ bench/native_compute.c build/bench/compute_native.o

build/bench/compute_native.o: guest/compute.c guest/compute.h
	@mkdir -p $(dir $@)
	$(CC) $(NATIVE_COMPUTE_CFLAGS) -MMD -MP -c -o $@ $<

# build/bench/host_baselines: trap, far-jump and KVM exit costs on the host.
build/bench/host_baselines: bench/host_baselines.c bench/clock.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ bench/host_baselines.c

# make bench: the whole comparison (bench/README.md); results in bench/results/;
# bench/linux adds the Linux rows (Debian's kernel: boot, shell loop, fork+exec).
BENCH_BINS := build/bench/native_compute build/bench/host_baselines
bench: all $(BENCH_BINS) build/tests/guests/linux_cpu_probe.elf
	bench/run
	bench/linux

# make bench-interp: the emulator's guest instructions/s and slowdown on compute.
bench-interp: all build/bench/native_compute
	bench/interp-speed
.PHONY: bench-interp

# make bench-sandbox: what the whole-VMM seccomp sandbox costs a system call.
build/bench/sandbox_cost: bench/sandbox_cost.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ bench/sandbox_cost.c $(LIBOBJS) $(LDLIBS)

bench-sandbox: build/bench/sandbox_cost
	build/bench/sandbox_cost
.PHONY: bench-sandbox
