build-m/obj/host/daemon/proto_env.o: host/daemon/proto_env.c \
 host/ctl/nexthop.h host/daemon/daemon.h host/ctl/controller.h \
 host/ctl/dataplane.h bpf/psoffload_abi.h host/ctl/nicinfo.h \
 host/ctl/profile.h offload/pso_check.h host/daemon/broker.h \
 host/proto/proto.h host/daemon/notify.h host/tables/tables.h \
 host/util/endpoint.h host/util/log.h
host/ctl/nexthop.h:
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
host/util/endpoint.h:
host/util/log.h:
