build-m/obj/host/ctl/placement.o: host/ctl/placement.c \
 host/ctl/placement.h
host/ctl/placement.h:
