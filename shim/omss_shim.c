// SPDX-License-Identifier: GPL-2.0
/* The C shim of OMSS; see omss_shim.h. */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include "omss_shim.h"

static unsigned int ring_default = 256;
module_param(ring_default, uint, 0444);
MODULE_PARM_DESC(ring_default, "Default session ring capacity in entries (default 256)");

static unsigned int ring_max = 4096;
module_param(ring_max, uint, 0444);
MODULE_PARM_DESC(ring_max, "Largest session ring capacity in entries (default 4096)");

static unsigned int workers;
module_param(workers, uint, 0444);
MODULE_PARM_DESC(workers, "Prespawned relay worker threads (default 0 = online CPUs)");

static unsigned int workers_max = 64;
module_param(workers_max, uint, 0444);
MODULE_PARM_DESC(workers_max, "Cap on relay worker threads when the pool grows (default 64)");

MODULE_VERSION("0.1.0");

void omss_shim_params(struct omss_params *out)
{
	out->ring_default = ring_default;
	out->ring_max = ring_max;
	out->workers = workers;
	out->workers_max = workers_max;
}

static void *omss_engine;

static int omss_open(struct inode *inode, struct file *file)
{
	void *ctx;
	int ret = omss_rs_open(omss_engine, &ctx);

	if (!ret)
		file->private_data = ctx;
	return ret;
}

static int omss_release(struct inode *inode, struct file *file)
{
	omss_rs_release(file->private_data);
	return 0;
}

static long omss_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return omss_rs_ioctl(file->private_data, cmd, arg);
}

static const struct file_operations omss_fops = {
	.owner = THIS_MODULE,
	.open = omss_open,
	.release = omss_release,
	.unlocked_ioctl = omss_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice omss_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "omss",
	.fops = &omss_fops,
	.mode = 0600,
};

int omss_shim_misc_register(void *engine)
{
	omss_engine = engine;
	return misc_register(&omss_misc);
}

void omss_shim_misc_deregister(void)
{
	misc_deregister(&omss_misc);
}
