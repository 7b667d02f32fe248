/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * OMSS: one-to-many streaming splicing. The ioctl ABI of /dev/omss.
 *
 * Every argument struct starts with a __u32 size that the caller sets to
 * sizeof(the struct); the kernel rejects any other size with EINVAL, so the
 * ABI can grow by adding new structs or fields behind a new size. Reserved
 * fields must be zero (EINVAL otherwise). All fields are fixed-size and
 * padding is explicit.
 */
#ifndef _UAPI_LINUX_OMSS_H
#define _UAPI_LINUX_OMSS_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define OMSS_ABI_VERSION	3
#define OMSS_IOC_MAGIC		0xB9
#define OMSS_DEVICE		"/dev/omss"

/* OMSS_IOC_VERSION: what this module speaks. */
struct omss_version {
	__u32 size;		/* in: sizeof(struct omss_version) */
	__u32 abi_version;	/* out: OMSS_ABI_VERSION of the module */
	__u32 nr_classes;	/* out: number of priority classes */
	__u32 ring_default;	/* out: default ring capacity, entries */
	__u32 ring_max;		/* out: largest ring capacity, entries */
	__u32 reserved[3];	/* in: must be zero */
};

#define OMSS_NR_CLASSES		8	/* priority classes: 0 lowest .. 7 highest */

/* Session modes. */
#define OMSS_MODE_SHARE		0	/* payload sharing: every sink sends the same pages */
#define OMSS_MODE_COPY		1	/* a private copy per sink (the paper's OMSS-M) */

/* Session states (omss_session_stats.state). */
#define OMSS_SESSION_IDLE	0	/* no source yet */
#define OMSS_SESSION_RUNNING	1
#define OMSS_SESSION_ENDED	2	/* source hit EOF; sinks drained what they could */
#define OMSS_SESSION_FAILED	3	/* source error, see source_err */

/* Sink states (omss_sink_stats.state). */
#define OMSS_SINK_ACTIVE	0
#define OMSS_SINK_FAILED	1	/* detached after a send error, see err */
#define OMSS_SINK_DONE		2	/* sent everything after the source's EOF */
#define OMSS_SINK_KICKED	3	/* detached by its hard lag limit; socket given back, no FIN */

/* Session flags (omss_session_create.flags, since ABI 3). */
#define OMSS_SESSION_PERSIST	(1U << 0)	/* parked, not destroyed, when its file closes */

/* Drop policies (omss_session_create.drop_policy, since ABI 3). */
#define OMSS_DROP_SLOWEST	0	/* full ring: the oldest entry goes, lost by the slowest sinks */
#define OMSS_DROP_TAIL		1	/* full ring: the new entry is not stored */
#define OMSS_DROP_RED		2	/* new entries dropped early, more likely as the ring fills */

/*
 * Limits of a sink (since ABI 3): session defaults in omss_session_create, a sink's own in
 * omss_sink_add. In a session, 0 is "none"; in a sink, 0 takes the session's value and
 * OMSS_LIMIT_NONE is "none". Entries carry the time they were received.
 * - burst: a new sink starts this far back, as far as the ring holds (both given: the shorter).
 *   A session with a burst keeps its entries until the ring needs the room (burst_entries:
 *   that many; burst_ms: all the ring holds), so a late joiner finds them.
 * - soft lag: a sink that lags more jumps to the newest entries (where a new sink with its
 *   burst would start) and counts the skipped ones in entries_lost.
 * - hard lag: a sink that lags more is kicked: detached, OMSS_SINK_KICKED, socket given back.
 * A lag limit in entries applies to what the ring holds: one at or above the ring's capacity
 * is never reached (slowest-sink-drop keeps the lag below it). In each unit, a burst must be
 * below the soft limit and the soft limit below the hard one (EINVAL), for the session's and
 * for each sink's own (with the session's values filled in). A soft limit applies when the
 * sink next looks for an entry, so a sink stalled on a full socket jumps when it can send
 * again; a hard limit is checked at every entry received.
 */
#define OMSS_LIMIT_NONE		0xffffffffU
struct omss_limits {
	__u32 burst_entries;
	__u32 burst_ms;
	__u32 lag_soft_entries;
	__u32 lag_soft_ms;
	__u32 lag_hard_entries;
	__u32 lag_hard_ms;
};

/*
 * Session ids are unique module-wide. ABI 1 and 2's struct (the fields up to reserved, size
 * OMSS_SESSION_CREATE_SIZE_V1, flags zero) is still accepted, through its own ioctl number.
 */
struct omss_session_create {
	__u32 size;		/* in: sizeof(struct omss_session_create) */
	__u32 flags;		/* in: OMSS_SESSION_* */
	__u32 priority;		/* in: class, 0 .. OMSS_NR_CLASSES - 1 */
	__u32 mode;		/* in: OMSS_MODE_* */
	__u32 ring_entries;	/* in: ring capacity, 0 = module default */
	__u32 session_id;	/* out */
	__u32 reserved[2];	/* in: must be zero */
	/* Since ABI 3. */
	struct omss_limits limits; /* in: defaults for the session's sinks */
	__u32 drop_policy;	/* in: OMSS_DROP_* */
	__u32 persist_ms;	/* in: with OMSS_SESSION_PERSIST, how long it stays parked
				 * (1 .. OMSS_PERSIST_MAX_MS); else 0 */
	__u64 token;		/* out: with OMSS_SESSION_PERSIST, the secret that adopts it */
	/*
	 * A TCP source's framing (a UDP source's entries are its datagrams; these are ignored).
	 * record_size: the stream is made of records of this many bytes (188 for MPEG-TS), so
	 * every entry holds whole records: drops and lag jumps fall on record boundaries.
	 * datagram_size: every entry is exactly this many bytes (a multiple of record_size), so
	 * a UDP sink sends datagrams of this size; keep it within the path MTU's payload (1316
	 * = 7 MPEG-TS packets). With record_size alone, entries are as many whole records as
	 * fit in OMSS_ENTRY_MAX. 0 is none. A stream that ends mid-entry ends with a short one.
	 */
	__u32 record_size;
	__u32 datagram_size;
};
#define OMSS_SESSION_CREATE_SIZE_V1	32
#define OMSS_ENTRY_MAX			16384	/* largest entry of a TCP source, bytes */
#define OMSS_ENTRY_MIN			64	/* smallest datagram_size, bytes */
#define OMSS_PERSIST_MAX_MS		3600000

/*
 * Errors of OMSS_IOC_SOURCE_SET and OMSS_IOC_SINK_ADD: EBADF, ENOTSOCK (fd), ENOENT (no
 * such session, or it was destroyed meanwhile), EPROTONOSUPPORT (not TCP/UDP over IPv4/6),
 * EINVAL (not connected; a TCP sink may be ESTABLISHED or CLOSE_WAIT), EBUSY (another
 * kernel user or another session has the socket; a source is set already), EEXIST (sink
 * already in this session), EOPNOTSUPP (an upper layer protocol such as kTLS has the
 * socket), ENOSPC (too many sinks), EFAULT (the struct cannot be read or written back:
 * then nothing was changed).
 */
struct omss_source_set {
	__u32 size;
	__u32 session_id;
	__s32 fd;		/* connected TCP or bound UDP socket */
	__u32 reserved;
};

struct omss_sink_add {
	__u32 size;
	__u32 session_id;
	__s32 fd;		/* connected TCP or connected UDP socket */
	__u32 sink_id;		/* out */
	__u32 reserved[2];
	/* Since ABI 3; ABI 2's struct (size OMSS_SINK_ADD_SIZE_V1) is still accepted. */
	struct omss_limits limits; /* in: this sink's, over the session's */
};
#define OMSS_SINK_ADD_SIZE_V1		24

/*
 * Adopt a parked session (one created with OMSS_SESSION_PERSIST whose file was closed): it
 * becomes this file's, as if created here. Errors: ENOENT (no such parked session), EPERM
 * (wrong token).
 */
struct omss_session_adopt {
	__u32 size;
	__u32 session_id;
	__u64 token;
	__u32 reserved[2];
};

/* Remove a sink (sink_id), or destroy a session (sink_id ignored, must be 0). */
struct omss_target {
	__u32 size;
	__u32 session_id;
	__u32 sink_id;
	__u32 reserved;
};

struct omss_sink_stats {
	__u32 sink_id;
	__u32 state;		/* OMSS_SINK_* */
	__s32 err;		/* errno that failed the sink, or 0 */
	__u32 errors;		/* transient send errors survived (ENOBUFS, ECONNREFUSED, ...) */
	__u64 tx_bytes;
	__u64 tx_packets;	/* entries sent */
	__u64 entries_lost;	/* entries dropped by slowest-sink-drop before this sink sent them */
	__u64 lag;		/* entries still to send */
};

struct omss_session_stats {
	__u32 size;
	__u32 session_id;
	__u32 state;		/* out: OMSS_SESSION_* */
	__s32 source_err;	/* out */
	__u32 priority;		/* out */
	__u32 mode;		/* out */
	__u32 ring_capacity;	/* out */
	__u32 ring_fill;	/* out: entries held now */
	__u32 nr_sinks;		/* out: sinks attached, failed ones included */
	__u32 sinks_cap;	/* in: room in the sinks array */
	__u64 sinks_ptr;	/* in: user pointer to struct omss_sink_stats[sinks_cap], or 0 */
	__u64 rx_bytes;
	__u64 rx_packets;	/* entries received */
	__u64 entries_stored;
	__u64 entries_dropped;	/* by the drop policy: the oldest (slowest-sink-drop) or new ones */
	__u64 pages_allocated;	/* payload pages, private copies included */
	__u64 reserved[2];
	/* Since ABI 2; a caller that sets size to OMSS_SESSION_STATS_SIZE_V1 gets the above only. */
	__u64 rx_errors;	/* transient receive errors survived (ENOMEM, ...) */
	__u64 rx_truncated;	/* datagrams larger than an entry, truncated */
	__u64 run_first;	/* engine task-run number of this session's first task run, or 0 */
	__u64 run_last;		/* engine task-run number of its latest task run, or 0 */
	__u64 pages_stored;	/* pages of the entries stored: one copy of the payload */
};
#define OMSS_SESSION_STATS_SIZE_V1	104

/* Module-wide counters (all open files). */
struct omss_engine_stats {
	__u32 size;		/* in: sizeof(struct omss_engine_stats) */
	__u32 workers;		/* out: worker threads now */
	__u32 workers_idle;	/* out: of which idle */
	__u32 sessions;		/* out: live sessions */
	__u64 entries_live;	/* out: payloads alive: stored entries and private copies */
	__u64 pages_live;	/* out: payload pages OMSS holds, receive spares included */
	__u64 tasks_run;	/* out: task runs so far */
	__u64 reserved[2];	/* in: must be zero */
};

/*
 * Pause (paused = 1) or resume (0) the relay workers, module-wide: while paused, tasks wait
 * in their class queues. For maintenance and tests; a pause ends when the file that set
 * it is closed.
 */
struct omss_engine_pause {
	__u32 size;
	__u32 paused;		/* in: 1 pause, 0 resume */
	__u32 reserved[2];
};

#define OMSS_IOC_VERSION	_IOWR(OMSS_IOC_MAGIC, 0x00, struct omss_version)
#define OMSS_IOC_SESSION_CREATE	_IOWR(OMSS_IOC_MAGIC, 0x01, struct omss_session_create)
#define OMSS_IOC_SOURCE_SET	_IOW(OMSS_IOC_MAGIC, 0x02, struct omss_source_set)
#define OMSS_IOC_SINK_ADD	_IOWR(OMSS_IOC_MAGIC, 0x03, struct omss_sink_add)
#define OMSS_IOC_SINK_REMOVE	_IOW(OMSS_IOC_MAGIC, 0x04, struct omss_target)
#define OMSS_IOC_SESSION_DESTROY _IOW(OMSS_IOC_MAGIC, 0x05, struct omss_target)
#define OMSS_IOC_SESSION_STATS	_IOWR(OMSS_IOC_MAGIC, 0x06, struct omss_session_stats)
#define OMSS_IOC_ENGINE_STATS	_IOWR(OMSS_IOC_MAGIC, 0x07, struct omss_engine_stats)
#define OMSS_IOC_ENGINE_PAUSE	_IOW(OMSS_IOC_MAGIC, 0x08, struct omss_engine_pause)
#define OMSS_IOC_SESSION_ADOPT	_IOW(OMSS_IOC_MAGIC, 0x09, struct omss_session_adopt)
/* The v1 layouts, still accepted. */
#define OMSS_IOC_SESSION_CREATE_V1 _IOWR(OMSS_IOC_MAGIC, 0x01, __u8[OMSS_SESSION_CREATE_SIZE_V1])
#define OMSS_IOC_SINK_ADD_V1	_IOWR(OMSS_IOC_MAGIC, 0x03, __u8[OMSS_SINK_ADD_SIZE_V1])
#define OMSS_IOC_SESSION_STATS_V1 _IOWR(OMSS_IOC_MAGIC, 0x06, __u8[OMSS_SESSION_STATS_SIZE_V1])

/*
 * Generic netlink family OMSS_GENL_NAME (described in uapi/omss.yaml, the kernel's YNL spec
 * format). Every operation needs CAP_NET_ADMIN; so does the events group.
 * - OMSS_CMD_SESSION_GET (dump): one message per session, with its stats (the token is
 *   never shown).
 * - OMSS_CMD_SINK_GET (dump; OMSS_A_SESSION_ID filters): one message per sink.
 * - OMSS_CMD_EVENT, multicast on group OMSS_GENL_MCGRP_EVENTS: OMSS_A_EVENT (OMSS_EVENT_*),
 *   OMSS_A_SESSION_ID, and for sink events OMSS_A_SINK_ID (and OMSS_A_ERRNO when failed).
 */
#define OMSS_GENL_NAME		"omss"
#define OMSS_GENL_VERSION	1
#define OMSS_GENL_MCGRP_EVENTS	"events"

enum omss_cmd {
	OMSS_CMD_UNSPEC,
	OMSS_CMD_SESSION_GET,
	OMSS_CMD_SINK_GET,
	OMSS_CMD_EVENT,
	__OMSS_CMD_MAX,
};
#define OMSS_CMD_MAX (__OMSS_CMD_MAX - 1)

enum omss_attr {
	OMSS_A_UNSPEC,
	OMSS_A_PAD,
	OMSS_A_SESSION_ID,	/* u32 */
	OMSS_A_SINK_ID,		/* u32 */
	OMSS_A_EVENT,		/* u32, OMSS_EVENT_* */
	OMSS_A_ERRNO,		/* u32, positive */
	OMSS_A_STATE,		/* u32, OMSS_SESSION_* or OMSS_SINK_* */
	OMSS_A_MODE,		/* u32, OMSS_MODE_* */
	OMSS_A_PRIORITY,	/* u32 */
	OMSS_A_DROP_POLICY,	/* u32, OMSS_DROP_* */
	OMSS_A_PARKED,		/* u32, 1 while parked */
	OMSS_A_RING_CAPACITY,	/* u32 */
	OMSS_A_RING_FILL,	/* u32 */
	OMSS_A_NR_SINKS,	/* u32 */
	OMSS_A_RX_PACKETS,	/* u64 */
	OMSS_A_RX_BYTES,	/* u64 */
	OMSS_A_ENTRIES_DROPPED,	/* u64 */
	OMSS_A_TX_PACKETS,	/* u64 */
	OMSS_A_TX_BYTES,	/* u64 */
	OMSS_A_ENTRIES_LOST,	/* u64 */
	OMSS_A_LAG,		/* u64 */
	__OMSS_A_MAX,
};
#define OMSS_A_MAX (__OMSS_A_MAX - 1)

enum omss_event {
	OMSS_EVENT_SINK_FAILED = 1,
	OMSS_EVENT_SINK_KICKED,
	OMSS_EVENT_SINK_DONE,
	OMSS_EVENT_SESSION_ENDED,
	OMSS_EVENT_SESSION_FAILED,
	OMSS_EVENT_SESSION_DESTROYED,
	OMSS_EVENT_SESSION_PARKED,
	OMSS_EVENT_SESSION_ADOPTED,
};

#endif /* _UAPI_LINUX_OMSS_H */
