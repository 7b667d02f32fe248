/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim of OMSS: only what 6.12's Rust bindings cannot reach (miscdevice,
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
};
void omss_shim_params(struct omss_params *out);

/*
 * /dev/omss. The device keeps Rust's engine pointer for open; open fills *ctx,
 * release and ioctl get it back.
 */
int omss_shim_misc_register(void *engine);
void omss_shim_misc_deregister(void);

/* Implemented in Rust. */
int omss_rs_open(void *engine, void **ctx);
void omss_rs_release(void *ctx);
long omss_rs_ioctl(void *ctx, unsigned int cmd, unsigned long arg);

#endif
