build-m/obj/host/proto/mqttsn.o: host/proto/mqttsn.c host/proto/mqttsn.h \
 bpf/psoffload_abi.h
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
