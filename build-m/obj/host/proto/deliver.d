build-m/obj/host/proto/deliver.o: host/proto/deliver.c \
 host/proto/session.h host/proto/mqttsn.h bpf/psoffload_abi.h \
 host/proto/proto.h host/util/endpoint.h host/proto/topics.h \
 host/util/log.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/proto/topics.h:
host/util/log.h:
