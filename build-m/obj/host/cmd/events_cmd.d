build-m/obj/host/cmd/events_cmd.o: host/cmd/events_cmd.c host/cmd/ctl.h \
 host/util/opts.h host/cmd/events_cmd.h host/daemon/events.h \
 bpf/psoffload_abi.h
host/cmd/ctl.h:
host/util/opts.h:
host/cmd/events_cmd.h:
host/daemon/events.h:
bpf/psoffload_abi.h:
