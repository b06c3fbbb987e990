build-m/obj/host/proto/forward.o: host/proto/forward.c \
 host/proto/session.h host/proto/mqttsn.h bpf/psoffload_abi.h \
 host/proto/proto.h host/util/endpoint.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
