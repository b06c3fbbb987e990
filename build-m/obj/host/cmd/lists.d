build-m/obj/host/cmd/lists.o: host/cmd/lists.c host/cmd/ctl.h \
 host/util/opts.h host/cmd/lists.h host/proto/proto.h bpf/psoffload_abi.h \
 host/proto/topics.h
host/cmd/ctl.h:
host/util/opts.h:
host/cmd/lists.h:
host/proto/proto.h:
bpf/psoffload_abi.h:
host/proto/topics.h:
