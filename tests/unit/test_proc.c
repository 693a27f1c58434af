/* test_proc.c – process attribution's parsers (src/proc/parse.c) on real /proc content made
 * by the test (its own sockets and process), the resolver (src/proc/resolve.c) finding this
 * process behind both ends of a real loopback connection, and the rendering of the process
 * fields (src/event/json_process.c through json.c). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "pktlog/proc.h"

/* A connected loopback pair: listener l, client c, accepted a (af 4 or 6; v4 on a dual-stack
 * IPv6 listener when mapped). */
struct pair {
	int l, c, a;
	uint16_t lport, cport;
};

static void make_pair(struct pair *p, int af, bool mapped)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1;

	memset(&ss, 0, sizeof(ss));
	p->l = socket(af == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	assert_true(p->l >= 0);
	setsockopt(p->l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (af == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		int off = 0;

		setsockopt(p->l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = mapped ? in6addr_any : in6addr_loopback;
		assert_int_equal(bind(p->l, (struct sockaddr *)s6, sizeof(*s6)), 0);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(p->l, (struct sockaddr *)s4, sizeof(*s4)), 0);
	}
	assert_int_equal(listen(p->l, 4), 0);
	assert_int_equal(getsockname(p->l, (struct sockaddr *)&ss, &sl), 0);
	p->lport = ntohs(af == 6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			 ((struct sockaddr_in *)&ss)->sin_port);
	if (af == 6 && !mapped) {
		struct sockaddr_in6 d = { .sin6_family = AF_INET6, .sin6_port = htons(p->lport),
					  .sin6_addr = in6addr_loopback };
		p->c = socket(AF_INET6, SOCK_STREAM, 0);
		assert_int_equal(connect(p->c, (struct sockaddr *)&d, sizeof(d)), 0);
	} else {
		struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(p->lport),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		p->c = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(p->c, (struct sockaddr *)&d, sizeof(d)), 0);
	}
	p->a = accept(p->l, NULL, NULL);
	assert_true(p->a >= 0);
	sl = sizeof(ss);
	assert_int_equal(getsockname(p->c, (struct sockaddr *)&ss, &sl), 0);
	p->cport = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			 ((struct sockaddr_in *)&ss)->sin_port);
}

static void close_pair(struct pair *p)
{
	close(p->a);
	close(p->c);
	close(p->l);
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_ino;
}

/* Read a whole /proc file (bounded). */
static size_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	size_t have = 0;
	ssize_t n;

	assert_true(fd >= 0);
	while (have < cap && (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	close(fd);
	return have;
}

/* Find the row of the socket with this inode in a socket table; count rows parsed. */
static bool find_row(const char *path, bool v6, uint64_t inode, struct pl_proc_sock *out,
		     int *parsed, int *lines)
{
	static char buf[1 << 20];
	size_t n = slurp(path, buf, sizeof(buf));
	char *p = buf, *end = buf + n, *nl;
	bool found = false;

	*parsed = *lines = 0;
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		struct pl_proc_sock s;

		(*lines)++;
		if (pl_proc_parse_tcp_line(p, (size_t)(nl - p), v6, &s) == 0) {
			(*parsed)++;
			if (s.inode == inode) {
				*out = s;
				found = true;
			}
		}
		p = nl + 1;
	}
	return found;
}

static void test_tcp4_rows(void **state)
{
	struct pair p;
	struct pl_proc_sock s;
	int parsed, lines;
	uint8_t lo[16] = { 127, 0, 0, 1 };

	(void)state;
	make_pair(&p, 4, false);
	/* the client's socket: local = client port, remote = listener */
	assert_true(find_row("/proc/net/tcp", false, inode_of(p.c), &s, &parsed, &lines));
	assert_int_equal(parsed, lines - 1);   /* every row but the header */
	assert_int_equal(s.af, 4);
	assert_memory_equal(s.local_ip, lo, 16);
	assert_memory_equal(s.remote_ip, lo, 16);
	assert_int_equal(s.local_port, p.cport);
	assert_int_equal(s.remote_port, p.lport);
	assert_int_equal(s.state, 1);   /* ESTABLISHED */
	assert_int_equal(s.uid, getuid());
	/* the accepted socket, the other way round */
	assert_true(find_row("/proc/net/tcp", false, inode_of(p.a), &s, &parsed, &lines));
	assert_int_equal(s.local_port, p.lport);
	assert_int_equal(s.remote_port, p.cport);
	/* the listener */
	assert_true(find_row("/proc/net/tcp", false, inode_of(p.l), &s, &parsed, &lines));
	assert_int_equal(s.state, 10);
	assert_int_equal(s.remote_port, 0);
	close_pair(&p);
}

static void test_tcp6_rows(void **state)
{
	struct pair p;
	struct pl_proc_sock s;
	int parsed, lines;
	uint8_t lo6[16] = { [15] = 1 }, lo4[16] = { 127, 0, 0, 1 };

	(void)state;
	make_pair(&p, 6, false);
	assert_true(find_row("/proc/net/tcp6", true, inode_of(p.c), &s, &parsed, &lines));
	assert_int_equal(parsed, lines - 1);
	assert_int_equal(s.af, 6);
	assert_memory_equal(s.local_ip, lo6, 16);
	assert_int_equal(s.local_port, p.cport);
	assert_int_equal(s.remote_port, p.lport);
	close_pair(&p);
	/* IPv4 accepted by a dual-stack listener: ::ffff:127.0.0.1 in tcp6, given as IPv4 */
	make_pair(&p, 6, true);
	assert_true(find_row("/proc/net/tcp6", true, inode_of(p.a), &s, &parsed, &lines));
	assert_int_equal(s.af, 4);
	assert_memory_equal(s.local_ip, lo4, 16);
	assert_memory_equal(s.remote_ip, lo4, 16);
	assert_int_equal(s.local_port, p.lport);
	assert_int_equal(s.remote_port, p.cport);
	close_pair(&p);
}

static void test_tcp_line_rejects(void **state)
{
	struct pl_proc_sock s;
	const char *hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			  "retrnsmt   uid  timeout inode";
	const char *ok = "   1: 0100007F:BDED 00000000:0000 0A 00000000:00000000 00:00000000 "
			 "00000000     0        0 1055912 1 00000000eaca2147 100 0 0 10 0";
	char cut[200];

	(void)state;
	assert_int_equal(pl_proc_parse_tcp_line(hdr, strlen(hdr), false, &s), -1);
	assert_int_equal(pl_proc_parse_tcp_line(ok, strlen(ok), false, &s), 0);
	assert_int_equal(s.inode, 1055912);
	assert_int_equal(s.local_port, 0xBDED);
	/* an IPv4 row read as IPv6 fails, and so does every truncation before the inode */
	assert_int_equal(pl_proc_parse_tcp_line(ok, strlen(ok), true, &s), -1);
	for (size_t n = 0; n < 91; n++) {   /* up to the inode */
		memcpy(cut, ok, n);
		assert_int_equal(pl_proc_parse_tcp_line(cut, n, false, &s), -1);
	}
}

static void test_socket_link(void **state)
{
	struct pair p;
	char path[64], link[64];
	ssize_t n;
	uint64_t inode;

	(void)state;
	make_pair(&p, 4, false);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p.c);
	n = readlink(path, link, sizeof(link));
	assert_true(n > 0);
	assert_int_equal(pl_proc_parse_socket_link(link, (size_t)n, &inode), 0);
	assert_int_equal(inode, inode_of(p.c));
	assert_int_equal(pl_proc_parse_socket_link("pipe:[123]", 10, &inode), -1);
	assert_int_equal(pl_proc_parse_socket_link("socket:[12a]", 12, &inode), -1);
	assert_int_equal(pl_proc_parse_socket_link("socket:[]", 9, &inode), -1);
	assert_int_equal(pl_proc_parse_socket_link("socket:[1]x", 11, &inode), -1);
	close_pair(&p);
}

static void test_stat_and_cmdline(void **state)
{
	static char buf[8192];
	static struct pl_proc_info in;
	size_t n = slurp("/proc/self/stat", buf, sizeof(buf));
	const char *odd = "42 (a) b (c)) S 7 1 1";

	(void)state;
	memset(&in, 0, sizeof(in));
	assert_int_equal(pl_proc_parse_stat(buf, n, &in), 0);
	assert_int_equal(in.ppid, getppid());
	assert_int_equal(in.name_len, strlen("test_proc"));
	assert_memory_equal(in.name, "test_proc", in.name_len);
	/* comm with spaces and parentheses ends at the last ')' */
	assert_int_equal(pl_proc_parse_stat(odd, strlen(odd), &in), 0);
	assert_int_equal(in.name_len, strlen("a) b (c)"));
	assert_int_equal(in.ppid, 7);
	assert_int_equal(pl_proc_parse_stat("42 (x", 5, &in), -1);

	n = slurp("/proc/self/cmdline", buf, sizeof(buf));
	pl_proc_parse_cmdline(buf, n, &in);
	assert_int_equal(in.args_count, 1);   /* make unit runs each binary without arguments */
	assert_int_equal(in.n_args, 1);
	assert_string_equal(in.args, buf);
	/* bounded: at most PL_PROC_MAX_ARGS kept, every one counted */
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 40; i++)
		buf[i * 100 + 99] = '\0';
	pl_proc_parse_cmdline(buf, 4000, &in);
	assert_int_equal(in.args_count, 40);
	assert_true(in.n_args <= PL_PROC_MAX_ARGS);
	assert_true(in.args_len <= PL_PROC_ARGS_MAX);
	assert_int_equal(in.args[in.args_len - 1], '\0');
}

static void query_for(const struct pair *p, struct pl_proc_query *q)
{
	memset(q, 0, sizeof(*q));
	q->af = 4;
	q->client_ip[0] = 127;
	q->client_ip[3] = 1;
	memcpy(q->server_ip, q->client_ip, 16);
	q->client_port = p->cport;
	q->server_port = p->lport;
}

static void test_resolver_finds_both_ends(void **state)
{
	struct pl_proc_resolver *r = pl_proc_resolver_new(0);
	static struct pl_proc_answer a;
	struct pl_proc_query q;
	struct pair p;
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe));

	(void)state;
	assert_non_null(r);
	make_pair(&p, 4, false);
	query_for(&p, &q);
	pl_proc_resolve(r, &q, &a);
	assert_true(a.scanned);
	assert_false(a.error);
	for (int side = 0; side < 2; side++) {
		assert_true(a.found[side]);
		assert_int_equal(a.info[side].pid, getpid());
		assert_int_equal(a.info[side].ppid, getppid());
		assert_int_equal(a.info[side].uid, getuid());
		assert_memory_equal(a.info[side].name, "test_proc", a.info[side].name_len);
		assert_int_equal(a.info[side].exe_len, n);
		assert_memory_equal(a.info[side].exe, exe, (size_t)n);
	}
	/* a connection that is not local: neither side, and nothing invented */
	q.client_port ^= 1;
	q.server_port ^= 1;
	pl_proc_resolve(r, &q, &a);
	assert_false(a.found[0]);
	assert_false(a.found[1]);
	close_pair(&p);
	pl_proc_resolver_free(r);
}

static void test_resolver_rate_limited(void **state)
{
	struct pl_proc_resolver *r = pl_proc_resolver_new(3600 * PL_NS_PER_SEC);
	static struct pl_proc_answer a;
	struct pl_proc_query q;
	struct pair p1, p2;

	(void)state;
	make_pair(&p1, 4, false);
	query_for(&p1, &q);
	pl_proc_resolve(r, &q, &a);
	assert_true(a.found[0] && a.found[1] && a.scanned);
	/* opened after the snapshot, within the interval: not found, said so, no scan */
	make_pair(&p2, 4, false);
	query_for(&p2, &q);
	pl_proc_resolve(r, &q, &a);
	assert_false(a.found[0] || a.found[1] || a.scanned);
	assert_true(a.rate_limited);
	/* the first connection still answers from the snapshot */
	query_for(&p1, &q);
	pl_proc_resolve(r, &q, &a);
	assert_true(a.found[0] && a.found[1]);
	close_pair(&p1);
	close_pair(&p2);
	pl_proc_resolver_free(r);
}

static struct pl_str S(const char *s)
{
	return (struct pl_str){ s, strlen(s) };
}

static void event_with(struct pl_event *ev, struct pl_event_process *pr, struct pl_str *args)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = PL_EV_MYSQL;
	ev->ok = true;
	ev->af = 4;
	ev->client.ip[0] = 10;
	ev->server.ip[0] = 10;
	ev->server.ip[3] = 2;
	ev->client.port = 40000;
	ev->server.port = 3306;
	ev->mysql.user = S("shop");
	args[0] = S("/usr/sbin/mariadbd");
	args[1] = S("--port=\"3306\"");
	memset(pr, 0, sizeof(*pr));
	pr->pid = 1234;
	pr->ppid = 1;
	pr->uid = 106;
	pr->has_uid = true;
	pr->name = S("mariadbd");
	pr->executable = S("/usr/sbin/mariadbd");
	pr->args = args;
	pr->n_args = 2;
	pr->args_count = 2;
}

static void test_render_one_side(void **state)
{
	static char buf[16384];
	struct pl_event ev;
	struct pl_event_process pr;
	struct pl_str args[2];
	const char *want = ",\"process\":{\"pid\":1234,\"name\":\"mariadbd\",\"executable\":"
			   "\"/usr/sbin/mariadbd\",\"args\":[\"/usr/sbin/mariadbd\",\"--port=\\\"3306\\\"\"],"
			   "\"args_count\":2,\"parent\":{\"pid\":1},\"user\":{\"id\":\"106\"}}";
	size_t n;

	(void)state;
	event_with(&ev, &pr, args);
	ev.process.server = &pr;
	n = pl_event_to_json(&ev, NULL, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "\"user\":{\"name\":\"shop\"}"));   /* the login user stays */
	assert_null(strstr(buf, "\"client\":{\"ip\":\"10.0.0.0\",\"port\":40000,\"bytes\":0,\"process\""));
	assert_true(pl_event_json_bound(&ev, NULL) >= n);
	/* a buffer one byte short at every length fails cleanly (checked writer) */
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(pl_event_to_json(&ev, NULL, buf, cap), 0);
	/* a command line read in part (eBPF): args without args_count */
	pr.args_count = 0;
	n = pl_event_to_json(&ev, NULL, buf, sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"--port=\\\"3306\\\"\"],\"parent\":{\"pid\":1}"));
	assert_null(strstr(buf, "args_count"));
	/* no process: the same rendering as before the field existed */
	ev.process.server = NULL;
	n = pl_event_to_json(&ev, NULL, buf, sizeof(buf));
	buf[n] = '\0';
	assert_null(strstr(buf, "process"));
}

static void test_render_both_sides(void **state)
{
	static char buf[16384];
	struct pl_event ev;
	struct pl_event_process pc, ps;
	struct pl_str ac[2], as[2];
	size_t n;
	char *src;

	(void)state;
	event_with(&ev, &pc, ac);
	event_with(&ev, &ps, as);
	pc.pid = 777;
	pc.name = S("mariadb");
	pc.n_args = 0;
	pc.args_count = 0;
	pc.ppid = -1;
	pc.has_uid = false;
	ev.process.client = &pc;
	ev.process.server = &ps;
	n = pl_event_to_json(&ev, NULL, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"client\":{\"ip\":\"10.0.0.0\",\"port\":40000,\"bytes\":0,"
				    "\"process\":{\"pid\":777,\"name\":\"mariadb\",\"executable\":"
				    "\"/usr/sbin/mariadbd\"}}"));
	assert_non_null(strstr(buf, "\"port\":3306,\"bytes\":0,\"process\":{\"pid\":1234,"));
	/* source and destination are the endpoints without the process */
	src = strstr(buf, "\"source\":");
	assert_non_null(src);
	assert_non_null(strstr(src, "\"source\":{\"ip\":\"10.0.0.0\",\"port\":40000,\"bytes\":0},"));
	assert_non_null(strstr(src, "\"destination\":{\"ip\":\"10.0.0.2\",\"port\":3306,\"bytes\":0},"));
	assert_null(strstr(src, "process"));   /* no top-level process either */
	assert_true(pl_event_json_bound(&ev, NULL) >= n);
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(pl_event_to_json(&ev, NULL, buf, cap), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4_rows),
		cmocka_unit_test(test_tcp6_rows),
		cmocka_unit_test(test_tcp_line_rejects),
		cmocka_unit_test(test_socket_link),
		cmocka_unit_test(test_stat_and_cmdline),
		cmocka_unit_test(test_resolver_finds_both_ends),
		cmocka_unit_test(test_resolver_rate_limited),
		cmocka_unit_test(test_render_one_side),
		cmocka_unit_test(test_render_both_sides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
