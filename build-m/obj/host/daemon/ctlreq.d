build-m/obj/host/daemon/ctlreq.o: host/daemon/ctlreq.c \
 host/daemon/ctlsock.h host/daemon/daemon.h host/ctl/controller.h \
 host/ctl/dataplane.h bpf/psoffload_abi.h host/ctl/nicinfo.h \
 host/ctl/profile.h offload/pso_check.h host/daemon/broker.h \
 host/proto/proto.h host/daemon/notify.h host/tables/tables.h \
 host/daemon/events.h host/daemon/snapshot.h host/proto/topics.h \
 host/util/endpoint.h
host/daemon/ctlsock.h:
host/daemon/daemon.h:
host/ctl/controller.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/ctl/nicinfo.h:
host/ctl/profile.h:
offload/pso_check.h:
host/daemon/broker.h:
host/proto/proto.h:
host/daemon/notify.h:
host/tables/tables.h:
host/daemon/events.h:
host/daemon/snapshot.h:
host/proto/topics.h:
host/util/endpoint.h:
