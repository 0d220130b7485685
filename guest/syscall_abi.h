/* int 0x80 ABI: number in EAX, arguments in EBX, ECX, EDX; result in EAX.
 * Every other register is preserved. */
#ifndef KIT_SYSCALL_ABI_H
#define KIT_SYSCALL_ABI_H

#define SYS_WRITE       1   /* (buf, len) -> len, writes to COM1 */
#define SYS_GETPID      2   /* () -> pid */
#define SYS_YIELD       3   /* () -> 0 */
#define SYS_EXIT        4   /* (code), does not return */
#define SYS_REPORT      5   /* (slot 0..7, value) -> 0: a result for the kernel's test */
#define SYS_PREEMPTIONS 6   /* () -> times the timer preempted this process */

#define SYS_REPORT_SLOTS 8

#endif
