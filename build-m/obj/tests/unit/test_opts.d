build-m/obj/tests/unit/test_opts.o: tests/unit/test_opts.c \
 host/util/opts.h
host/util/opts.h:
