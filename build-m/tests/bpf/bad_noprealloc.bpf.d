build-m/tests/bpf/bad_noprealloc.bpf.o: tests/bpf/bad_noprealloc.bpf.c
