build-m/obj/host/tables/clients.o: host/tables/clients.c \
 host/tables/tables_int.h host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables_int.h:
host/tables/tables.h:
bpf/psoffload_abi.h:
