build-m/obj/host/cmd/conn.o: host/cmd/conn.c host/cmd/conn.h \
 host/proto/mqttsn.h bpf/psoffload_abi.h host/util/opts.h
host/cmd/conn.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/util/opts.h:
