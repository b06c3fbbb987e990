build-m/obj/tests/unit/test_grace.o: tests/unit/test_grace.c \
 host/tables/porttab.h bpf/psoffload_abi.h host/tables/tables.h
host/tables/porttab.h:
bpf/psoffload_abi.h:
host/tables/tables.h:
