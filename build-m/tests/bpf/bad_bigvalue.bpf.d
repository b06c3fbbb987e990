build-m/tests/bpf/bad_bigvalue.bpf.o: tests/bpf/bad_bigvalue.bpf.c
