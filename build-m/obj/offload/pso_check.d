build-m/obj/offload/pso_check.o: offload/pso_check.c offload/pso_check.h
offload/pso_check.h:
