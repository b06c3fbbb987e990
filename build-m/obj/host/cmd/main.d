build-m/obj/host/cmd/main.o: host/cmd/main.c host/daemon/broker.h \
 host/ctl/dataplane.h bpf/psoffload_abi.h host/proto/proto.h \
 host/daemon/ctlsock.h host/daemon/metrics.h host/ctl/profile.h \
 offload/pso_check.h host/cmd/check_cmd.h host/cmd/client.h \
 host/util/log.h host/util/opts.h host/cmd/lists.h host/cmd/stats.h \
 host/cmd/events_cmd.h host/cmd/status.h
host/daemon/broker.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/daemon/ctlsock.h:
host/daemon/metrics.h:
host/ctl/profile.h:
offload/pso_check.h:
host/cmd/check_cmd.h:
host/cmd/client.h:
host/util/log.h:
host/util/opts.h:
host/cmd/lists.h:
host/cmd/stats.h:
host/cmd/events_cmd.h:
host/cmd/status.h:
