build-m/obj/host/cmd/sub.o: host/cmd/sub.c host/cmd/client.h \
 host/cmd/conn.h host/proto/mqttsn.h bpf/psoffload_abi.h host/util/opts.h
host/cmd/client.h:
host/cmd/conn.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/util/opts.h:
