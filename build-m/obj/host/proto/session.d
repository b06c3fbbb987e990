build-m/obj/host/proto/session.o: host/proto/session.c \
 host/proto/session.h host/proto/mqttsn.h bpf/psoffload_abi.h \
 host/proto/proto.h host/util/endpoint.h host/util/log.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/util/log.h:
