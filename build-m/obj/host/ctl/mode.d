build-m/obj/host/ctl/mode.o: host/ctl/mode.c host/ctl/mode.h \
 host/ctl/dataplane.h bpf/psoffload_abi.h host/ctl/profile.h \
 offload/pso_check.h host/ctl/nicinfo.h
host/ctl/mode.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/ctl/profile.h:
offload/pso_check.h:
host/ctl/nicinfo.h:
