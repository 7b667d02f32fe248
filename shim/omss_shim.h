/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim of OMSS: only what 6.12's Rust bindings cannot reach (miscdevice, generic netlink,
 * module parameters). Every function is a few lines; all logic is in Rust.
 */
#ifndef OMSS_SHIM_H
#define OMSS_SHIM_H

#include <linux/types.h>

/* Module parameters, read once at load by Rust. */
struct omss_params {
	u32 ring_default;	/* default ring capacity, entries */
	u32 ring_max;		/* largest ring capacity, entries */
	u32 workers;		/* prespawned workers, 0 = online CPUs */
	u32 workers_max;	/* pool growth cap */
	u32 online_cpus;	/* num_online_cpus() now */
};
void omss_shim_params(struct omss_params *out);

/*
 * /dev/omss, served by Rust through ops: open(data, &ctx) fills *ctx for the file,
 * release and ioctl get it back. ops and data stay valid while registered.
 */
struct omss_misc_ops {
	int (*open)(void *data, void **ctx);
	void (*release)(void *ctx);
	long (*ioctl)(void *ctx, unsigned int cmd, unsigned long arg);
};
int omss_shim_misc_register(const struct omss_misc_ops *ops, void *data);
void omss_shim_misc_deregister(void);

struct socket;
typedef struct spinlock spinlock_t;

/* What Rust needs to know to accept a socket (struct sock is opaque to Rust). */
struct omss_sk_info {
	u16 family;
	u16 type;
	u16 protocol;
	u8 state;		/* TCP_* (connected UDP is TCP_ESTABLISHED) */
	u8 bound;		/* has a local port */
	u8 listening;
	u8 owned;		/* sk_user_data is set: another kernel user has it */
	u8 ulp;			/* an upper layer protocol (kTLS, ...) owns the callbacks */
	u8 pad[5];
};
void omss_sk_info(struct socket *sock, struct omss_sk_info *out);
/* Bytes in the socket's write queue (for TCP: sent but not yet acknowledged, or unsent). */
unsigned int omss_sk_wmem_queued(struct socket *sock);
bool omss_sock_nospace(struct socket *sock);
bool omss_sock_has_room(struct socket *sock);

/* Socket callbacks saved by attach, put back by detach. */
struct omss_sk_saved {
	void *data_ready;
	void *write_space;
	void *state_change;
};
/*
 * Under sk_callback_lock: fails with -EBUSY if sk_user_data is set, -EOPNOTSUPP if a ULP
 * has the socket, else saves the callbacks, sets sk_user_data = ctx and installs OMSS's,
 * which call omss_rs_sk_event().
 */
int omss_sk_attach(struct socket *sock, void *ctx, struct omss_sk_saved *saved);
/*
 * Under sk_callback_lock: restores each saved callback that is still OMSS's and clears
 * sk_user_data if it is still ctx. No OMSS callback sees ctx after this returns.
 */
void omss_sk_detach(struct socket *sock, void *ctx, const struct omss_sk_saved *saved);

/* Takes another reference on the socket's file (sockfd_lookup took the first). */
void omss_sock_hold(struct socket *sock);

#define OMSS_EV_READ	1	/* data or EOF to read */
#define OMSS_EV_WRITE	2	/* send space available */
#define OMSS_EV_STATE	4	/* state change (reset, close) */

/* The n-th online CPU (from 0), or -1. */
int omss_online_cpu(unsigned int n);

/* cond_resched() is a macro or a static call, depending on the preemption model. */
void omss_cond_resched(void);

/* spin_lock_bh and spin_unlock_bh are static inlines. */
void omss_spin_lock_bh(spinlock_t *lock);
void omss_spin_unlock_bh(spinlock_t *lock);

/* The generic netlink family (omss_netlink.c). */
struct sk_buff;
struct netlink_callback;
struct omss_nl_attr {
	u16 type;
	u16 is64;
	u32 pad;
	u64 value;
};
struct omss_nl_ops {
	/* Puts messages of dump `cmd` from position *pos on (and moves it); returns how
	 * many it put (0: the dump is over) or a negative errno. */
	int (*dump)(void *data, u8 cmd, u32 filter, struct sk_buff *skb,
		    struct netlink_callback *cb, long *pos);
};
int omss_nl_register(const struct omss_nl_ops *ops, void *data);
void omss_nl_unregister(void);
/* One dump message; -EMSGSIZE when the skb is full (nothing of it stays). */
int omss_nl_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd,
		const struct omss_nl_attr *a, unsigned int n);
/* Multicasts an event to the events group if the family is registered; never sleeps. */
void omss_nl_event(const struct omss_nl_attr *a, unsigned int n);

/* Implemented in Rust. */
void omss_rs_sk_event(void *ctx, unsigned int events);

#endif
