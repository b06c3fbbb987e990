build-m/obj/tests/unit/test_offload_check.o: \
 tests/unit/test_offload_check.c offload/pso_check.h
offload/pso_check.h:
