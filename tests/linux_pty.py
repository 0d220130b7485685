#!/usr/bin/env python3
"""Interactive Linux in a pseudo-terminal, as a user runs `make linux`:
boot to the shell, type a command and read its output back, power off,
and check that ringvm ended with status 0 and left the terminal's modes as
they were. Exit 0 when all of that held; otherwise 1 and why on stderr.

usage: linux_pty.py RINGVM VMLINUZ INITRD
"""
import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time

BOOT_S = float(os.environ.get("LINUX_TIMEOUT", "900"))


def main():
    ringvm, kernel, initrd, engine = sys.argv[1:5]
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)

    def controlling_tty():
        # As in a terminal window: ringvm leads its session and the pty is
        # its controlling terminal, with ringvm in the foreground (it leaves
        # a terminal alone otherwise, as a background job must).
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [ringvm, "run", "--engine", engine, "--mem", "256M", "--kernel", kernel, "--initrd", initrd,
         "--append", "console=ttyS0"],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True, preexec_fn=controlling_tty)
    seen = b""

    def read_until(token, limit_s):
        nonlocal seen
        end = time.monotonic() + limit_s
        while token not in seen:
            left = end - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                return False
            r, _, _ = select.select([master], [], [], min(left, 1.0))
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return False
        return True

    def fail(why):
        proc.kill()
        proc.wait()
        sys.stderr.write("%s; last output: %r\n" % (why, seen[-300:]))
        sys.exit(1)

    if not read_until(b"interactive shell on ttyS0", BOOT_S):
        fail("no shell banner")
    time.sleep(1.0)  # let the shell print its prompt
    seen = b""
    # The shell echoes what is typed; only the command's output has the
    # two halves joined.
    os.write(master, b'echo hel""lo\r')
    if not read_until(b"\nhello\r", 120):
        fail("typed 'echo hello', did not read 'hello' back")
    os.write(master, b"poweroff\r")
    try:
        status = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        fail("ringvm still running 120 s after poweroff")
    after = termios.tcgetattr(slave)
    if status != 0:
        fail("ringvm exit status %d after poweroff, want 0" % status)
    if after != before:
        fail("terminal modes changed: %r -> %r" % (before, after))
    print("typed a command, read its output, powered off (status 0), terminal restored")


if __name__ == "__main__":
    main()
