build-m/tests/bpf/bad_rodata.bpf.o: tests/bpf/bad_rodata.bpf.c
