build-m/obj/host/daemon/snapshot.o: host/daemon/snapshot.c \
 host/ctl/mode.h host/ctl/dataplane.h bpf/psoffload_abi.h \
 host/ctl/profile.h offload/pso_check.h host/daemon/daemon.h \
 host/ctl/controller.h host/ctl/nicinfo.h host/daemon/broker.h \
 host/proto/proto.h host/daemon/notify.h host/tables/tables.h \
 host/daemon/snapshot.h host/daemon/statusfile.h host/proto/mqttsn.h \
 host/util/log.h
host/ctl/mode.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/ctl/profile.h:
offload/pso_check.h:
host/daemon/daemon.h:
host/ctl/controller.h:
host/ctl/nicinfo.h:
host/daemon/broker.h:
host/proto/proto.h:
host/daemon/notify.h:
host/tables/tables.h:
host/daemon/snapshot.h:
host/daemon/statusfile.h:
host/proto/mqttsn.h:
host/util/log.h:
