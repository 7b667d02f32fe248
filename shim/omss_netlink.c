// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family of OMSS (uapi/omss.yaml): its registration, its dumps (which
 * call into Rust for the content) and its events. It knows attributes and messages, not
 * sessions: Rust hands it lists of (type, value) pairs.
 */
#include <net/genetlink.h>
#include <linux/rcupdate.h>
#include "../uapi/omss.h"
#include "omss_shim.h"

static const struct omss_nl_ops *nl_ops;
static void *nl_data;
/* Events are sent only while this is set; cleared (then an RCU grace period) before the
 * family goes away, so no event can use it after. */
static bool nl_live;

static const struct nla_policy omss_nl_policy[OMSS_A_MAX + 1] = {
	[OMSS_A_SESSION_ID] = { .type = NLA_U32 },
};

static int omss_nl_dump(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	u32 filter = 0;
	int ret;

	if (info->info.attrs && info->info.attrs[OMSS_A_SESSION_ID])
		filter = nla_get_u32(info->info.attrs[OMSS_A_SESSION_ID]);
	ret = nl_ops->dump(nl_data, cmd, filter, skb, cb, &cb->args[0]);
	if (ret < 0)
		return ret;
	return ret ? skb->len : 0;
}

static int omss_nl_dump_sessions(struct sk_buff *skb, struct netlink_callback *cb)
{
	return omss_nl_dump(skb, cb, OMSS_CMD_SESSION_GET);
}

static int omss_nl_dump_sinks(struct sk_buff *skb, struct netlink_callback *cb)
{
	return omss_nl_dump(skb, cb, OMSS_CMD_SINK_GET);
}

static const struct genl_ops omss_nl_genl_ops[] = {
	{
		.cmd = OMSS_CMD_SESSION_GET,
		.dumpit = omss_nl_dump_sessions,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = OMSS_CMD_SINK_GET,
		.dumpit = omss_nl_dump_sinks,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group omss_nl_mcgrps[] = {
	{ .name = OMSS_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

/*
 * Events tell about every session module-wide, so a listener needs CAP_NET_ADMIN in the
 * initial user namespace, as the dumps do (GENL_ADMIN_PERM), whichever network namespace
 * it is in; the group flag alone would accept CAP_NET_ADMIN of a namespace's own user ns.
 */
static int omss_nl_bind(int mcgrp)
{
	return capable(CAP_NET_ADMIN) ? 0 : -EPERM;
}

static struct genl_family omss_nl_family __ro_after_init = {
	.name = OMSS_GENL_NAME,
	.version = OMSS_GENL_VERSION,
	.maxattr = OMSS_A_MAX,
	.policy = omss_nl_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.ops = omss_nl_genl_ops,
	.n_ops = ARRAY_SIZE(omss_nl_genl_ops),
	.mcgrps = omss_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(omss_nl_mcgrps),
	.bind = omss_nl_bind,
};

static int omss_nl_put_attrs(struct sk_buff *skb, const struct omss_nl_attr *a, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		int err = a[i].is64 ?
			nla_put_u64_64bit(skb, a[i].type, a[i].value, OMSS_A_PAD) :
			nla_put_u32(skb, a[i].type, (u32)a[i].value);
		if (err)
			return err;
	}
	return 0;
}

int omss_nl_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd,
		const struct omss_nl_attr *a, unsigned int n)
{
	void *hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				&omss_nl_family, NLM_F_MULTI, cmd);

	if (!hdr)
		return -EMSGSIZE;
	if (omss_nl_put_attrs(skb, a, n)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

void omss_nl_event(const struct omss_nl_attr *a, unsigned int n)
{
	struct sk_buff *skb;
	void *hdr;

	rcu_read_lock();
	if (!READ_ONCE(nl_live))
		goto out;
	skb = genlmsg_new(n * nla_total_size_64bit(sizeof(u64)), GFP_ATOMIC);
	if (!skb)
		goto out;
	hdr = genlmsg_put(skb, 0, 0, &omss_nl_family, 0, OMSS_CMD_EVENT);
	if (!hdr || omss_nl_put_attrs(skb, a, n)) {
		nlmsg_free(skb);
		goto out;
	}
	genlmsg_end(skb, hdr);
	/* No listener is not an error; the skb is consumed either way. */
	genlmsg_multicast_allns(&omss_nl_family, skb, 0, 0);
out:
	rcu_read_unlock();
}

int omss_nl_register(const struct omss_nl_ops *ops, void *data)
{
	int ret;

	if (nl_ops)
		return -EBUSY;
	nl_ops = ops;
	nl_data = data;
	ret = genl_register_family(&omss_nl_family);
	if (ret) {
		nl_ops = NULL;
		nl_data = NULL;
		return ret;
	}
	WRITE_ONCE(nl_live, true);
	return 0;
}

void omss_nl_unregister(void)
{
	WRITE_ONCE(nl_live, false);
	synchronize_rcu();
	genl_unregister_family(&omss_nl_family);
	nl_ops = NULL;
	nl_data = NULL;
}
