build-m/obj/host/proto/topics.o: host/proto/topics.c host/proto/topics.h
host/proto/topics.h:
