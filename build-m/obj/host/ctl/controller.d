build-m/obj/host/ctl/controller.o: host/ctl/controller.c \
 host/ctl/controller.h host/ctl/dataplane.h bpf/psoffload_abi.h \
 host/ctl/nicinfo.h host/ctl/profile.h offload/pso_check.h \
 host/ctl/mode.h host/ctl/nexthop.h host/ctl/placement.h \
 build-m/bpf/psoffload_xdp_offload.skel.h host/tables/porttab.h \
 host/tables/tables.h host/util/log.h
host/ctl/controller.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/ctl/nicinfo.h:
host/ctl/profile.h:
offload/pso_check.h:
host/ctl/mode.h:
host/ctl/nexthop.h:
host/ctl/placement.h:
build-m/bpf/psoffload_xdp_offload.skel.h:
host/tables/porttab.h:
host/tables/tables.h:
host/util/log.h:
