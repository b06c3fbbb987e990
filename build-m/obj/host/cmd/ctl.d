build-m/obj/host/cmd/ctl.o: host/cmd/ctl.c host/cmd/ctl.h \
 host/util/opts.h host/ctl/dataplane.h bpf/psoffload_abi.h \
 host/daemon/ctlsock.h
host/cmd/ctl.h:
host/util/opts.h:
host/ctl/dataplane.h:
bpf/psoffload_abi.h:
host/daemon/ctlsock.h:
