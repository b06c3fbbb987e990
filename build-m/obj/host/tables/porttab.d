build-m/obj/host/tables/porttab.o: host/tables/porttab.c \
 host/tables/porttab.h bpf/psoffload_abi.h host/tables/tables.h
host/tables/porttab.h:
bpf/psoffload_abi.h:
host/tables/tables.h:
