build-m/obj/tests/unit/test_tables.o: tests/unit/test_tables.c \
 host/tables/tables.h bpf/psoffload_abi.h
host/tables/tables.h:
bpf/psoffload_abi.h:
