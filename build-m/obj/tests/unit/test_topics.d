build-m/obj/tests/unit/test_topics.o: tests/unit/test_topics.c \
 host/proto/topics.h
host/proto/topics.h:
