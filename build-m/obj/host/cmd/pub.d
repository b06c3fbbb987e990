build-m/obj/host/cmd/pub.o: host/cmd/pub.c host/cmd/client.h \
 host/cmd/conn.h host/proto/mqttsn.h bpf/psoffload_abi.h host/util/opts.h
host/cmd/client.h:
host/cmd/conn.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/util/opts.h:
