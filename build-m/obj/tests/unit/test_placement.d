build-m/obj/tests/unit/test_placement.o: tests/unit/test_placement.c \
 host/ctl/placement.h
host/ctl/placement.h:
