/* test_capture.c – unit tests of src/capture/: the classic filter text, file replay, the eBPF port filter on a real packet socket, privilege dropping (needs root). */
#include <fcntl.h>
#include <sys/stat.h>
#include "unit.h"
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include "pktlog/capture.h"
#include "pktlog/portfilter.h"
#include "../../src/capture/ebpf_filter.h"

#define KEEP 96

static void test_filter_default_ports(void **state)
{
	struct pl_config cfg;
	char f[4096];

	assert_int_equal(pl_config_defaults(&cfg), 0);
	assert_true(pl_capture_filter(&cfg, f, sizeof(f)) > 0);
	assert_string_equal(f, "(tcp port 80 or tcp port 8080 or tcp port 8000 or tcp port 5000 or "
			       "tcp port 8002 or tcp port 3306 or tcp port 3307 or tcp port 443 or "
			       "tcp port 8443 or tcp port 993 or tcp port 995 or tcp port 5223 or "
			       "tcp port 8883 or tcp port 9243 or tcp port 50051) or (vlan and (tcp port 80 or "
			       "tcp port 8080 or tcp port 8000 or tcp port 5000 or tcp port 8002 or "
			       "tcp port 3306 or tcp port 3307 or tcp port 443 or tcp port 8443 or "
			       "tcp port 993 or tcp port 995 or tcp port 5223 or tcp port 8883 or "
			       "tcp port 9243 or tcp port 50051))");
	pl_config_free(&cfg);
}

/* The most ports the config lets through (PL_PF_MAX_PORTS distinct, plus http2's shared with
 * http): the classic filter text fits and compiles on an Ethernet handle. */
static void test_filter_most_ports(void **state)
{
	struct pl_config cfg;
	struct bpf_program prog;
	char f[8192];
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);

	assert_int_equal(pl_config_defaults(&cfg), 0);
	cfg.tls.enabled = false;
	cfg.http.ports.n = cfg.mysql.ports.n = cfg.http2.ports.n = PL_MAX_PORTS;
	for (int i = 0; i < PL_MAX_PORTS; i++) {
		cfg.http.ports.port[i] = (uint16_t)(1000 + i);
		cfg.mysql.ports.port[i] = (uint16_t)(2000 + i);
		cfg.http2.ports.port[i] = (uint16_t)(1000 + i);
	}
	assert_true(pl_capture_filter(&cfg, f, sizeof(f)) > 0);
	assert_non_null(strstr(f, "tcp port 2063 or tcp port 1000 or"));
	assert_non_null(strstr(f, "tcp port 1063))"));
	assert_int_equal(pcap_compile(p, &prog, f, 1, PCAP_NETMASK_UNKNOWN), 0);
	pcap_freecode(&prog);
	pcap_close(p);
	pl_config_free(&cfg);
}

static void test_filter_user_expression_and_no_ports(void **state)
{
	struct pl_config cfg;
	char f[4096];

	assert_int_equal(pl_config_defaults(&cfg), 0);
	cfg.mysql.enabled = false;
	cfg.tls.enabled = false;
	cfg.http2.enabled = false;
	cfg.http.ports.n = 1;
	cfg.http.ports.port[0] = 8080;
	cfg.capture.bpf_filter = strdup("not host 10.0.0.1");
	assert_true(pl_capture_filter(&cfg, f, sizeof(f)) > 0);
	assert_string_equal(f, "((tcp port 8080) or (vlan and (tcp port 8080))) and (not host 10.0.0.1)");
	cfg.http.enabled = false;
	free(cfg.capture.bpf_filter);
	cfg.capture.bpf_filter = NULL;
	assert_true(pl_capture_filter(&cfg, f, sizeof(f)) > 0);
	assert_string_equal(f, "(tcp) or (vlan and (tcp))");
	/* Too small a buffer is refused, not cut. */
	assert_int_equal(pl_capture_filter(&cfg, f, 8), 0);
	pl_config_free(&cfg);
}

static void count_frame(void *arg, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
			uint64_t ts_ns, int linktype)
{
	(*(int *)arg)++;
}

static void test_file_replay_and_errors(void **state)
{
	struct pl_capture *c = pl_capture_open_file("pcaps/http_chunked.pcap");
	struct pl_capture_counters cc;
	int n = 0, rc;

	assert_non_null(c);
	while ((rc = pl_capture_next(c, 3, 0, count_frame, &n)) > 0)
		;
	assert_int_equal(rc, PL_CAPTURE_EOF);
	assert_int_equal(n, 10);
	pl_capture_counters(c, &cc);
	assert_int_equal(cc.received, 0);
	assert_false(cc.ebpf);
	pl_capture_close(c);
	assert_null(pl_capture_open_file("pcaps/no-such-file.pcap"));
	assert_null(pl_capture_open_live("pl-no-such-if0", &(struct pl_config){ .capture.snaplen = 65535,
										.capture.buffer_mb = 1 }));
}

static void test_ebpf_port_slots(void **state)
{
	char why[256] = "";
	struct pl_ebpf *e = pl_ebpf_open(true, KEEP, why, sizeof(why));
	struct pl_ebpf_port_count pc[PL_PF_MAX_PORTS];
	uint16_t ports[PL_PF_MAX_PORTS + 1];

	assert_non_null(e);   /* unit tests run as root (make test): eBPF must load */
	assert_int_equal(pl_ebpf_set_ports(e, (const uint16_t[]){ 80, 8080, 80 }, 3), 0);
	assert_int_equal(pl_ebpf_counts(e, pc, PL_PF_MAX_PORTS), 2);
	assert_int_equal(pl_ebpf_set_ports(e, (const uint16_t[]){ 8080, 3306 }, 2), 0);
	assert_int_equal(pl_ebpf_counts(e, pc, PL_PF_MAX_PORTS), 2);
	assert_true((pc[0].port == 3306 && pc[1].port == 8080) || (pc[0].port == 8080 && pc[1].port == 3306));
	for (int i = 0; i <= PL_PF_MAX_PORTS; i++)
		ports[i] = (uint16_t)(1000 + i);
	assert_int_equal(pl_ebpf_set_ports(e, ports, PL_PF_MAX_PORTS), 0);
	assert_int_equal(pl_ebpf_counts(e, pc, PL_PF_MAX_PORTS), PL_PF_MAX_PORTS);
	/* One more than the map holds fails cleanly; the earlier ports stay. */
	assert_int_equal(pl_ebpf_set_ports(e, ports, PL_PF_MAX_PORTS + 1), -1);
	assert_int_equal(pl_ebpf_counts(e, pc, PL_PF_MAX_PORTS), PL_PF_MAX_PORTS);
	pl_ebpf_close(e);
	pl_ebpf_close(NULL);
}

static int listen_lo(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

static int packet_socket_on_lo(void)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex("lo") };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&ll, sizeof(ll)), 0);
	return s;
}

static void talk(uint16_t port, int lsock)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int u = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
	char buf[600];

	memset(buf, 'x', sizeof(buf));
	/* UDP to the same port number: not TCP, must be dropped. */
	for (int i = 0; i < 5; i++)
		sendto(u, "noise", 5, 0, (struct sockaddr *)&a, sizeof(a));
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	s = accept(lsock, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(send(c, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(recv(s, buf, sizeof(buf), MSG_WAITALL), (ssize_t)sizeof(buf));
	close(c);
	close(s);
	close(u);
}

/* Every frame the filter let through is IPv4 TCP on `port`, cut to KEEP bytes. */
static int read_frames(int ps, uint16_t port)
{
	uint8_t f[2048];
	int n = 0;
	struct pollfd pfd = { .fd = ps, .events = POLLIN };

	while (poll(&pfd, 1, 300) > 0) {
		ssize_t len = recv(ps, f, sizeof(f), MSG_DONTWAIT);
		if (len < 0)
			break;
		assert_true(len <= KEEP && len >= 14 + 20 + 4);
		assert_int_equal((f[12] << 8) | f[13], ETH_P_IP);
		assert_int_equal(f[14 + 9], IPPROTO_TCP);
		int l4 = 14 + (f[14] & 0xf) * 4;
		uint16_t sp = (uint16_t)((f[l4] << 8) | f[l4 + 1]), dp = (uint16_t)((f[l4 + 2] << 8) | f[l4 + 3]);
		assert_true(sp == port || dp == port);
		n++;
	}
	return n;
}

static void test_ebpf_filters_real_packets(void **state)
{
	char why[256] = "";
	struct pl_ebpf *e = pl_ebpf_open(true, KEEP, why, sizeof(why));
	struct pl_ebpf_port_count pc[4];
	uint16_t port;
	int lsock = listen_lo(&port), ps = packet_socket_on_lo(), n;
	char drainbuf[2048];

	assert_non_null(e);
	assert_int_equal(pl_ebpf_attach(e, ps), 0);
	/* Attached disarmed: nothing more arrives; what came before the attach is drained. */
	while (recv(ps, drainbuf, sizeof(drainbuf), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(pl_ebpf_set_ports(e, &port, 1), 0);
	pl_ebpf_arm(e, true);
	talk(port, lsock);
	n = read_frames(ps, port);
	/* SYN, SYN-ACK, ACK, data, ACK, FIN/ACK… each once: lo's outgoing copies are dropped. */
	assert_true(n >= 6);
	assert_int_equal(pl_ebpf_counts(e, pc, 4), 1);
	assert_int_equal(pc[0].port, port);
	assert_int_equal(pc[0].packets, (uint64_t)n);
	assert_true(pc[0].bytes > 600);
	/* Disarmed again: the same exchange is not delivered and not counted. */
	pl_ebpf_arm(e, false);
	talk(port, lsock);
	assert_int_equal(read_frames(ps, port), 0);
	assert_int_equal(pl_ebpf_counts(e, pc, 4), 1);
	assert_int_equal(pc[0].packets, (uint64_t)n);
	close(ps);
	close(lsock);
	pl_ebpf_close(e);
}

/* Runs fn in a child (dropping privileges is for good) and returns its exit status. */
static int in_child(int (*fn)(void))
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int drop_to_nobody(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	char dir[] = "/tmp/pl-privdrop-XXXXXX", sub[64], file[96];
	struct stat st;

	/* The data dir (two levels: registry file, spool directory and its segments) goes
	 * to the new user, so pktlog can still write its state. */
	if (!mkdtemp(dir))
		return 15;
	snprintf(sub, sizeof(sub), "%s/spool", dir);
	snprintf(file, sizeof(file), "%s/seg-1", sub);
	if (mkdir(sub, 0700) != 0 || close(open(file, O_CREAT | O_WRONLY, 0600)) != 0)
		return 16;
	if (pl_capture_drop_privileges("nobody", dir) != 0)
		return 10;
	if (stat(file, &st) != 0 || st.st_uid != getuid() || stat(dir, &st) != 0 || st.st_uid != getuid())
		return 17;
	if (syscall(SYS_capget, &hdr, data) != 0)
		return 11;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return 12;
	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getgroups(0, NULL) != 0)
		return 13;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || prctl(PR_CAPBSET_READ, 0, 0, 0, 0) != 0)
		return 14;
	return 0;
}

static int drop_to_unknown_user(void)
{
	return pl_capture_drop_privileges("pl-no-such-user", NULL) == -1 ? 0 : 1;
}

static int drop_keeping_user(void)
{
	uid_t uid = getuid();

	return pl_capture_drop_privileges("", NULL) == 0 && getuid() == uid ? 0 : 1;
}

static void test_drop_privileges(void **state)
{
	assert_int_equal(getuid(), 0);   /* unit tests run as root (make test) */
	assert_int_equal(in_child(drop_to_nobody), 0);
	assert_int_equal(in_child(drop_to_unknown_user), 0);
	assert_int_equal(in_child(drop_keeping_user), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_default_ports),
		cmocka_unit_test(test_filter_user_expression_and_no_ports),
		cmocka_unit_test(test_filter_most_ports),
		cmocka_unit_test(test_file_replay_and_errors),
		cmocka_unit_test(test_ebpf_port_slots),
		cmocka_unit_test(test_ebpf_filters_real_packets),
		cmocka_unit_test(test_drop_privileges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
