build-m/tests/bpf/bad_bigelem.bpf.o: tests/bpf/bad_bigelem.bpf.c
