build-m/obj/host/ctl/dataplane.o: host/ctl/dataplane.c \
 build-m/bpf/psoffload_xdp.skel.h \
 build-m/bpf/psoffload_xdp_offload.skel.h build-m/bpf/psoffload_tc.skel.h \
 host/ctl/dataplane.h bpf/psoffload_abi.h host/tables/porttab.h \
 host/tables/tables.h host/util/log.h
build-m/bpf/psoffload_xdp.skel.h:
build-m/bpf/psoffload_xdp_offload.skel.h:
build-m/bpf/psoffload_tc.skel.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/tables/porttab.h:
host/tables/tables.h:
host/util/log.h:
