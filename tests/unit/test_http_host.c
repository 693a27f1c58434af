/* test_http_host.c – pl_http_split_host, the Host/:authority splitting HTTP/1 and HTTP/2 share:
 * names, IPv6 literals, ports, and what is not a port. */
#include "unit.h"
#include "../../src/proto/http_host.h"

static void check(const char *v, const char *host, uint16_t port)
{
	struct pl_event_http h;

	memset(&h, 0, sizeof(h));
	pl_http_split_host((struct pl_str){ v, strlen(v) }, &h);
	assert_int_equal(h.host.len, strlen(host));
	assert_memory_equal(h.host.p, host, strlen(host));
	assert_ptr_equal(h.host.p, v);            /* borrowed, not copied */
	assert_int_equal(h.host_port, port);
}

static void test_names(void **state)
{
	check("example.com", "example.com", 0);
	check("example.com:8080", "example.com", 8080);
	check("127.0.0.1:50051", "127.0.0.1", 50051);
	check("", "", 0);
}

static void test_ipv6(void **state)
{
	check("[::1]", "[::1]", 0);
	check("[::1]:8080", "[::1]", 8080);
	check("[::1]8080", "[::1]8080", 0);     /* no colon after the bracket: all host */
	check("[::1", "[::1", 0);
}

static void test_not_ports(void **state)
{
	check("h:", "h", 0);
	check("h:65535", "h", 65535);
	check("h:65536", "h", 0);
	check("h:08080", "h", 8080);
	check("h:008080", "h", 0);              /* more than 5 digits */
	check("h:80x", "h", 0);
	check("h:-1", "h", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_not_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
