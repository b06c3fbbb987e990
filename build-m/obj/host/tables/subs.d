build-m/obj/host/tables/subs.o: host/tables/subs.c \
 host/tables/tables_int.h host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables_int.h:
host/tables/tables.h:
bpf/psoffload_abi.h:
