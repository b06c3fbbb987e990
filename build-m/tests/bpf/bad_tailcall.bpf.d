build-m/tests/bpf/bad_tailcall.bpf.o: tests/bpf/bad_tailcall.bpf.c
