build-m/obj/host/util/endpoint.o: host/util/endpoint.c \
 host/util/endpoint.h bpf/psoffload_abi.h
host/util/endpoint.h:
bpf/psoffload_abi.h:
