build-m/tests/bpf/bad_redirect_ret.bpf.o: \
  tests/bpf/bad_redirect_ret.bpf.c
