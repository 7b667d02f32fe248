// SPDX-License-Identifier: GPL-2.0
/*
 * omss_floor: the pure-transmit floor of tools/bench (see omss_floor.h). It marks what any
 * relay that sends through sockets must pay: one receive and one page per source packet,
 * one sock_sendmsg(MSG_SPLICE_PAGES) per sink, all in the caller's thread.
 */
#include <linux/bvec.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/sock.h>
#include "omss_floor.h"

#define FLOOR_MAX_SINKS 65536

/* Sends @len bytes of @page to @sock; a stream socket gets all of them. */
static int floor_send(struct socket *sock, struct page *page, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct msghdr msg = { .msg_flags = MSG_SPLICE_PAGES | MSG_NOSIGNAL };
		struct bio_vec bv;
		int n;

		bvec_set_page(&bv, page, len - off, off);
		iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, len - off);
		n = sock_sendmsg(sock, &msg);
		if (n <= 0)
			return n ? n : -EIO;
		off += n;
	}
	return 0;
}

static long floor_run(struct omss_floor_run *r)
{
	struct socket *src, **sinks;
	s32 *fds;
	long ret = 0;
	u32 i, got = 0;
	int err;

	if (!r->nr_sinks || r->nr_sinks > FLOOR_MAX_SINKS)
		return -EINVAL;
	fds = memdup_array_user(u64_to_user_ptr(r->sink_fds), r->nr_sinks, sizeof(*fds));
	if (IS_ERR(fds))
		return PTR_ERR(fds);
	sinks = kvcalloc(r->nr_sinks, sizeof(*sinks), GFP_KERNEL);
	src = sinks ? sockfd_lookup(r->source_fd, &err) : NULL;
	if (!src) {
		ret = sinks ? err : -ENOMEM;
		goto out_fds;
	}
	for (; got < r->nr_sinks; got++) {
		sinks[got] = sockfd_lookup(fds[got], &err);
		if (!sinks[got]) {
			ret = err;
			goto out;
		}
	}
	r->packets = r->sends = r->send_errors = 0;
	for (;;) {
		struct kvec kv;
		struct msghdr msg = {};
		struct page *page;
		int n;

		if (signal_pending(current))
			break; /* the caller's stop: report what was done */
		page = alloc_page(GFP_KERNEL);
		if (!page) {
			ret = -ENOMEM;
			break;
		}
		kv.iov_base = page_address(page);
		kv.iov_len = PAGE_SIZE;
		n = kernel_recvmsg(src, &msg, &kv, 1, PAGE_SIZE, 0);
		if (n <= 0) {
			put_page(page);
			/* EOF, the idle timeout (EAGAIN) or a signal end the run; others fail it. */
			if (n < 0 && n != -EAGAIN && n != -EINTR && n != -ERESTARTSYS)
				ret = n;
			break;
		}
		r->packets++;
		for (i = 0; i < r->nr_sinks; i++) {
			if (floor_send(sinks[i], page, n))
				r->send_errors++;
			else
				r->sends++;
		}
		put_page(page); /* the sent skbs hold their own references */
		cond_resched();
	}
out:
	while (got--)
		sockfd_put(sinks[got]);
	sockfd_put(src);
out_fds:
	kvfree(sinks);
	kfree(fds);
	return ret;
}

static long floor_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct omss_floor_run r;
	long ret;

	if (cmd != OMSS_FLOOR_RUN)
		return -ENOTTY;
	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (copy_from_user(&r, (void __user *)arg, sizeof(r)))
		return -EFAULT;
	ret = floor_run(&r);
	if (!ret && copy_to_user((void __user *)arg, &r, sizeof(r)))
		return -EFAULT;
	return ret;
}

static const struct file_operations floor_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = floor_ioctl,
};

static struct miscdevice floor_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "omss_floor",
	.fops = &floor_fops,
};

module_misc_device(floor_dev);
MODULE_DESCRIPTION("OMSS benchmark: the pure-transmit floor");
MODULE_LICENSE("GPL");
