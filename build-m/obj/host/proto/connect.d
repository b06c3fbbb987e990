build-m/obj/host/proto/connect.o: host/proto/connect.c \
 host/proto/handlers.h host/proto/session.h host/proto/mqttsn.h \
 bpf/psoffload_abi.h host/proto/proto.h host/util/endpoint.h \
 host/proto/topics.h host/util/log.h
host/proto/handlers.h:
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/proto/topics.h:
host/util/log.h:
