build-m/obj/host/tables/tables.o: host/tables/tables.c \
 host/tables/tables_int.h host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables_int.h:
host/tables/tables.h:
bpf/psoffload_abi.h:
