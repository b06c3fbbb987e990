build-m/tests/bpf/bad_mod.bpf.o: tests/bpf/bad_mod.bpf.c
