build-m/obj/host/proto/handlers.o: host/proto/handlers.c \
 host/proto/session.h host/proto/mqttsn.h bpf/psoffload_abi.h \
 host/proto/proto.h host/util/endpoint.h host/proto/topics.h \
 host/util/log.h host/proto/handlers.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/proto/topics.h:
host/util/log.h:
host/proto/handlers.h:
