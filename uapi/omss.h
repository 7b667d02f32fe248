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

#define OMSS_ABI_VERSION	1
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

#define OMSS_IOC_VERSION	_IOWR(OMSS_IOC_MAGIC, 0x00, struct omss_version)

#endif /* _UAPI_LINUX_OMSS_H */
