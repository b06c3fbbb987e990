build-m/obj/host/proto/inspect.o: host/proto/inspect.c \
 host/proto/session.h host/proto/mqttsn.h bpf/psoffload_abi.h \
 host/proto/proto.h host/util/endpoint.h host/proto/topics.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/proto/topics.h:
