build-m/obj/host/tables/grace.o: host/tables/grace.c \
 host/tables/tables_int.h host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables_int.h:
host/tables/tables.h:
bpf/psoffload_abi.h:
