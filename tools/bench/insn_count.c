// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * insn_count: a QEMU TCG plugin that counts the guest instructions executed, for
 * tools/bench. The count is a u64 at offset 0 of a shared mapping of the file named by
 * `out=PATH`, so the benchmark reads it at a window's edges without stopping the guest:
 *
 *   qemu-system-x86_64 -smp 1 -plugin insn_count.so,out=/tmp/insns ...
 *
 * Each translated block adds its instruction count inline when it runs: no helper call, so
 * counting costs the guest little. The add is not atomic, so the plugin refuses a guest with
 * more than one vCPU (MTTCG would lose counts). A block left early (an exception or an
 * interrupt mid-block) still counts whole; that error is small and the same for every relay.
 *
 * Debian's QEMU ships no plugin header, so the few entry points of QEMU's stable plugin ABI
 * (version 1, served by QEMU 7.2) that this file uses are declared here.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);

EXPORT int qemu_plugin_version = 1;

static uint64_t *insns;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
						 qemu_plugin_tb_n_insns(tb));
}

static int refuse(const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "insn_count: %s\n", why);
	fputs(msg, stderr);
	return -1;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	const char *path = NULL;
	void *map;
	int fd;

	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
	if (!path)
		return refuse("usage: -plugin insn_count.so,out=PATH");
	if (info->system_emulation && info->system.max_vcpus > 1)
		return refuse("one vCPU only: the inline counter is not atomic");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		return refuse("cannot create the counter file");
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return refuse("cannot map the counter file");
	insns = map;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
