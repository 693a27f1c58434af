/* bpf.c – libbpf, opened when live capture loads the eBPF pre-filter: the functions
 * src/capture/ebpf_filter.c and the bpftool skeleton it includes (build/bpf/portfilter.skel.h) call,
 * forwarded (see lazylib.c). libbpf brings libelf and libz with it. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pktlog/dl.h"
#include "lazylib.h"

#define FUNCS(X)                                \
	X(libbpf_set_print)                     \
	X(libbpf_num_possible_cpus)             \
	X(bpf_object__open_skeleton)            \
	X(bpf_object__load_skeleton)            \
	X(bpf_object__destroy_skeleton)         \
	X(bpf_program__fd)                      \
	X(bpf_map__update_elem)                 \
	X(bpf_map__lookup_elem)                 \
	X(bpf_map__delete_elem)

PL_DL_TABLE(lib, "the eBPF pre-filter", FUNCS);

bool pl_dl_bpf(char *err, size_t cap)
{
	return pl_lazylib_load(&lib, err, cap);
}

#define CALL(f) PL_DL_CALL(lib, f)

libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn)
{
	return CALL(libbpf_set_print)(fn);
}

int libbpf_num_possible_cpus(void)
{
	return CALL(libbpf_num_possible_cpus)();
}

int bpf_object__open_skeleton(struct bpf_object_skeleton *s, const struct bpf_object_open_opts *opts)
{
	return CALL(bpf_object__open_skeleton)(s, opts);
}

int bpf_object__load_skeleton(struct bpf_object_skeleton *s)
{
	return CALL(bpf_object__load_skeleton)(s);
}

void bpf_object__destroy_skeleton(struct bpf_object_skeleton *s)
{
	CALL(bpf_object__destroy_skeleton)(s);
}

int bpf_program__fd(const struct bpf_program *prog)
{
	return CALL(bpf_program__fd)(prog);
}

int bpf_map__update_elem(const struct bpf_map *map, const void *key, size_t key_sz,
			 const void *value, size_t value_sz, __u64 flags)
{
	return CALL(bpf_map__update_elem)(map, key, key_sz, value, value_sz, flags);
}

int bpf_map__lookup_elem(const struct bpf_map *map, const void *key, size_t key_sz, void *value,
			 size_t value_sz, __u64 flags)
{
	return CALL(bpf_map__lookup_elem)(map, key, key_sz, value, value_sz, flags);
}

int bpf_map__delete_elem(const struct bpf_map *map, const void *key, size_t key_sz, __u64 flags)
{
	return CALL(bpf_map__delete_elem)(map, key, key_sz, flags);
}
