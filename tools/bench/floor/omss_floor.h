/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * omss_floor: the benchmark's pure-transmit floor (never loaded on a production relay).
 * One ioctl on /dev/omss_floor relays a source socket to sink sockets from the calling
 * thread: for each source read, one fresh page, sent to every sink with the same
 * sock_sendmsg(MSG_SPLICE_PAGES) call OMSS uses. No ring, no tasks, no wakeups, no locks.
 */
#ifndef OMSS_FLOOR_H
#define OMSS_FLOOR_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct omss_floor_run {
	__s32 source_fd;	/* UDP or TCP; a UDP source ends on its SO_RCVTIMEO */
	__u32 nr_sinks;		/* 1..65536 */
	__u64 sink_fds;		/* user pointer to __s32[nr_sinks] */
	__u64 packets;		/* out: source reads relayed */
	__u64 sends;		/* out: sink sends that completed */
	__u64 send_errors;	/* out: sink sends that failed (skipped) */
};

/* Runs until the source ends, times out, or a signal arrives; then fills the counters. */
#define OMSS_FLOOR_RUN _IOWR('O', 0x70, struct omss_floor_run)

#endif
