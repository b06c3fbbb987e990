build-m/obj/tests/unit/test_porttab.o: tests/unit/test_porttab.c \
 host/tables/porttab.h bpf/psoffload_abi.h
host/tables/porttab.h:
bpf/psoffload_abi.h:
