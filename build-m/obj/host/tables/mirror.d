build-m/obj/host/tables/mirror.o: host/tables/mirror.c \
 host/tables/tables_int.h host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables_int.h:
host/tables/tables.h:
bpf/psoffload_abi.h:
