build-m/obj/host/daemon/metrics.o: host/daemon/metrics.c \
 host/daemon/metrics.h host/daemon/snapshot.h host/proto/proto.h \
 bpf/psoffload_abi.h host/tables/tables.h host/proto/mqttsn.h \
 host/util/log.h host/util/opts.h
host/daemon/metrics.h:
host/daemon/snapshot.h:
host/proto/proto.h:
bpf/psoffload_abi.h:
host/tables/tables.h:
host/proto/mqttsn.h:
host/util/log.h:
host/util/opts.h:
