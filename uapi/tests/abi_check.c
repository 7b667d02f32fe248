/* Prints the ABI facts of uapi/omss.h as "name value" lines for tests/abi.rs. */
#include <stddef.h>
#include <stdio.h>
#include "../omss.h"

#define P(name, val) printf("%s %llu\n", name, (unsigned long long)(val))
#define F(s, f) do { P(#s "." #f ".offset", offsetof(struct s, f)); \
		     P(#s "." #f ".size", sizeof(((struct s *)0)->f)); } while (0)

int main(void)
{
	P("OMSS_ABI_VERSION", OMSS_ABI_VERSION);
	P("OMSS_IOC_MAGIC", OMSS_IOC_MAGIC);
	P("OMSS_IOC_VERSION", OMSS_IOC_VERSION);
	P("omss_version.size_of", sizeof(struct omss_version));
	F(omss_version, size);
	F(omss_version, abi_version);
	F(omss_version, nr_classes);
	F(omss_version, ring_default);
	F(omss_version, ring_max);
	F(omss_version, reserved);
	P("OMSS_NR_CLASSES", OMSS_NR_CLASSES);
	P("OMSS_MODE_SHARE", OMSS_MODE_SHARE);
	P("OMSS_MODE_COPY", OMSS_MODE_COPY);
	P("OMSS_SESSION_IDLE", OMSS_SESSION_IDLE);
	P("OMSS_SESSION_RUNNING", OMSS_SESSION_RUNNING);
	P("OMSS_SESSION_ENDED", OMSS_SESSION_ENDED);
	P("OMSS_SESSION_FAILED", OMSS_SESSION_FAILED);
	P("OMSS_SINK_ACTIVE", OMSS_SINK_ACTIVE);
	P("OMSS_SINK_FAILED", OMSS_SINK_FAILED);
	P("OMSS_SINK_DONE", OMSS_SINK_DONE);
	P("OMSS_IOC_SESSION_CREATE", OMSS_IOC_SESSION_CREATE);
	P("OMSS_IOC_SOURCE_SET", OMSS_IOC_SOURCE_SET);
	P("OMSS_IOC_SINK_ADD", OMSS_IOC_SINK_ADD);
	P("OMSS_IOC_SINK_REMOVE", OMSS_IOC_SINK_REMOVE);
	P("OMSS_IOC_SESSION_DESTROY", OMSS_IOC_SESSION_DESTROY);
	P("OMSS_IOC_SESSION_STATS", OMSS_IOC_SESSION_STATS);
	P("omss_session_create.size_of", sizeof(struct omss_session_create));
	F(omss_session_create, size);
	F(omss_session_create, flags);
	F(omss_session_create, priority);
	F(omss_session_create, mode);
	F(omss_session_create, ring_entries);
	F(omss_session_create, session_id);
	F(omss_session_create, reserved);
	P("omss_source_set.size_of", sizeof(struct omss_source_set));
	F(omss_source_set, size);
	F(omss_source_set, session_id);
	F(omss_source_set, fd);
	F(omss_source_set, reserved);
	P("omss_sink_add.size_of", sizeof(struct omss_sink_add));
	F(omss_sink_add, size);
	F(omss_sink_add, session_id);
	F(omss_sink_add, fd);
	F(omss_sink_add, sink_id);
	F(omss_sink_add, reserved);
	P("omss_target.size_of", sizeof(struct omss_target));
	F(omss_target, size);
	F(omss_target, session_id);
	F(omss_target, sink_id);
	F(omss_target, reserved);
	P("omss_sink_stats.size_of", sizeof(struct omss_sink_stats));
	F(omss_sink_stats, sink_id);
	F(omss_sink_stats, state);
	F(omss_sink_stats, err);
	F(omss_sink_stats, errors);
	F(omss_sink_stats, tx_bytes);
	F(omss_sink_stats, tx_packets);
	F(omss_sink_stats, entries_lost);
	F(omss_sink_stats, lag);
	P("omss_session_stats.size_of", sizeof(struct omss_session_stats));
	F(omss_session_stats, size);
	F(omss_session_stats, session_id);
	F(omss_session_stats, state);
	F(omss_session_stats, source_err);
	F(omss_session_stats, priority);
	F(omss_session_stats, mode);
	F(omss_session_stats, ring_capacity);
	F(omss_session_stats, ring_fill);
	F(omss_session_stats, nr_sinks);
	F(omss_session_stats, sinks_cap);
	F(omss_session_stats, sinks_ptr);
	F(omss_session_stats, rx_bytes);
	F(omss_session_stats, rx_packets);
	F(omss_session_stats, entries_stored);
	F(omss_session_stats, entries_dropped);
	F(omss_session_stats, pages_allocated);
	F(omss_session_stats, reserved);
	F(omss_session_stats, rx_errors);
	F(omss_session_stats, rx_truncated);
	F(omss_session_stats, run_first);
	F(omss_session_stats, run_last);
	F(omss_session_stats, pages_stored);
	P("OMSS_SESSION_STATS_SIZE_V1", OMSS_SESSION_STATS_SIZE_V1);
	P("OMSS_IOC_SESSION_STATS_V1", OMSS_IOC_SESSION_STATS_V1);
	P("OMSS_IOC_ENGINE_PAUSE", OMSS_IOC_ENGINE_PAUSE);
	P("omss_engine_pause.size_of", sizeof(struct omss_engine_pause));
	F(omss_engine_pause, size);
	F(omss_engine_pause, paused);
	F(omss_engine_pause, reserved);
	P("OMSS_IOC_ENGINE_STATS", OMSS_IOC_ENGINE_STATS);
	P("omss_engine_stats.size_of", sizeof(struct omss_engine_stats));
	F(omss_engine_stats, size);
	F(omss_engine_stats, workers);
	F(omss_engine_stats, workers_idle);
	F(omss_engine_stats, sessions);
	F(omss_engine_stats, entries_live);
	F(omss_engine_stats, pages_live);
	F(omss_engine_stats, tasks_run);
	F(omss_engine_stats, reserved);
	return 0;
}
