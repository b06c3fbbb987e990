build-m/obj/host/daemon/daemon.o: host/daemon/daemon.c \
 host/daemon/ctlsock.h host/daemon/metrics.h host/daemon/snapshot.h \
 host/proto/proto.h bpf/psoffload_abi.h host/tables/tables.h \
 host/daemon/statusfile.h host/ctl/nexthop.h host/daemon/daemon.h \
 host/ctl/controller.h host/ctl/dataplane.h host/ctl/nicinfo.h \
 host/ctl/profile.h offload/pso_check.h host/daemon/broker.h \
 host/daemon/notify.h host/daemon/events.h host/proto/mqttsn.h \
 host/proto/topics.h host/util/endpoint.h host/util/log.h
host/daemon/ctlsock.h:
host/daemon/metrics.h:
host/daemon/snapshot.h:
host/proto/proto.h:
bpf/psoffload_abi.h:
host/tables/tables.h:
host/daemon/statusfile.h:
host/ctl/nexthop.h:
host/daemon/daemon.h:
host/ctl/controller.h:
host/ctl/dataplane.h:
host/ctl/nicinfo.h:
host/ctl/profile.h:
offload/pso_check.h:
host/daemon/broker.h:
host/daemon/notify.h:
host/daemon/events.h:
host/proto/mqttsn.h:
host/proto/topics.h:
host/util/endpoint.h:
host/util/log.h:
