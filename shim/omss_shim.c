// SPDX-License-Identifier: GPL-2.0
/* The C shim of OMSS; see omss_shim.h. */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <net/inet_connection_sock.h>
#include <net/inet_sock.h>
#include <net/sock.h>
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
	out->online_cpus = num_online_cpus();
}

static const struct omss_misc_ops *omss_ops;
static void *omss_data;

static int omss_open(struct inode *inode, struct file *file)
{
	void *ctx;
	int ret = omss_ops->open(omss_data, &ctx);

	if (!ret)
		file->private_data = ctx;
	return ret;
}

static int omss_release(struct inode *inode, struct file *file)
{
	omss_ops->release(file->private_data);
	return 0;
}

static long omss_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return omss_ops->ioctl(file->private_data, cmd, arg);
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

int omss_shim_misc_register(const struct omss_misc_ops *ops, void *data)
{
	omss_ops = ops;
	omss_data = data;
	return misc_register(&omss_misc);
}

void omss_shim_misc_deregister(void)
{
	misc_deregister(&omss_misc);
}

void omss_sk_info(struct socket *sock, struct omss_sk_info *out)
{
	struct sock *sk = sock->sk;

	memset(out, 0, sizeof(*out));
	out->family = sk->sk_family;
	out->type = sk->sk_type;
	out->protocol = sk->sk_protocol;
	out->state = sk->sk_state;
	out->listening = sk->sk_state == TCP_LISTEN;
	out->bound = (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) && inet_sk(sk)->inet_num;
	out->owned = !!READ_ONCE(sk->sk_user_data);
	out->ulp = inet_csk_has_ulp(sk);
}

unsigned int omss_sk_wmem_queued(struct socket *sock)
{
	return READ_ONCE(sock->sk->sk_wmem_queued);
}

bool omss_sock_nospace(struct socket *sock)
{
	return test_bit(SOCK_NOSPACE, &sock->flags);
}

/* As sk_stream_write_space / sock_def_write_space: whether there is room to wake for. */
static bool omss_sk_has_room(struct sock *sk)
{
	return sk->sk_type == SOCK_STREAM ? sk_stream_is_writeable(sk) : sock_writeable(sk);
}

bool omss_sock_has_room(struct socket *sock)
{
	smp_mb(); /* SOCK_NOSPACE, then wmem; pairs with omss_write_space */
	return omss_sk_has_room(sock->sk);
}

static void omss_sk_event(struct sock *sk, unsigned int events)
{
	void *ctx;

	read_lock_bh(&sk->sk_callback_lock);
	ctx = sk->sk_user_data;
	if (ctx)
		omss_rs_sk_event(ctx, events);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void omss_data_ready(struct sock *sk)
{
	omss_sk_event(sk, OMSS_EV_READ);
}

static void omss_write_space(struct sock *sk)
{
	struct socket *sock;
	bool waiting;
	void *ctx;

	if (!omss_sk_has_room(sk))
		return;
	/*
	 * Only a sink that met a full buffer waits for room, and a full buffer sets
	 * SOCK_NOSPACE before it answers EAGAIN (sock_alloc_send_pskb, sk_stream_wait_memory);
	 * the sink treats an EAGAIN without the mark as transient. UDP calls this on every
	 * freed skb: a sink that keeps up pays no lock and no call here.
	 * The socket is freed after an RCU grace period (sock_free_inode), so it may be read
	 * under rcu_read_lock() without sk_callback_lock.
	 */
	smp_mb(); /* freed memory, then flag; pairs with the sender's retry, omss_sock_has_room */
	rcu_read_lock();
	sock = READ_ONCE(sk->sk_socket);
	waiting = sock && test_bit(SOCK_NOSPACE, &sock->flags);
	rcu_read_unlock();
	if (!waiting)
		return;
	read_lock_bh(&sk->sk_callback_lock);
	ctx = sk->sk_user_data;
	sock = sk->sk_socket;
	if (ctx) {
		if (sock)
			clear_bit(SOCK_NOSPACE, &sock->flags);
		omss_rs_sk_event(ctx, OMSS_EV_WRITE);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void omss_state_change(struct sock *sk)
{
	omss_sk_event(sk, OMSS_EV_STATE | OMSS_EV_READ);
}

int omss_sk_attach(struct socket *sock, void *ctx, struct omss_sk_saved *saved)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data || inet_csk_has_ulp(sk)) {
		int ret = sk->sk_user_data ? -EBUSY : -EOPNOTSUPP;

		write_unlock_bh(&sk->sk_callback_lock);
		return ret;
	}
	saved->data_ready = sk->sk_data_ready;
	saved->write_space = sk->sk_write_space;
	saved->state_change = sk->sk_state_change;
	sk->sk_user_data = ctx;
	sk->sk_data_ready = omss_data_ready;
	sk->sk_write_space = omss_write_space;
	sk->sk_state_change = omss_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

void omss_sk_detach(struct socket *sock, void *ctx, const struct omss_sk_saved *saved)
{
	struct sock *sk = sock->sk;

	/* Put back only what is still ours: another layer may have wrapped it meanwhile. */
	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_data_ready == omss_data_ready)
		sk->sk_data_ready = saved->data_ready;
	if (sk->sk_write_space == omss_write_space)
		sk->sk_write_space = saved->write_space;
	if (sk->sk_state_change == omss_state_change)
		sk->sk_state_change = saved->state_change;
	if (sk->sk_user_data == ctx)
		sk->sk_user_data = NULL;
	write_unlock_bh(&sk->sk_callback_lock);
}

void omss_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void omss_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

int omss_online_cpu(unsigned int n)
{
	unsigned int cpu;

	for_each_online_cpu(cpu)
		if (n-- == 0)
			return cpu;
	return -1;
}

void omss_sock_hold(struct socket *sock)
{
	get_file(sock->file);
}

void omss_cond_resched(void)
{
	cond_resched();
}
