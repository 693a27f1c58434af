/* pcap_loop.c – the replay baseline: a bare libpcap read loop over a capture file (counts packets,
 * sums caplen) and nothing else; it must not decode, so pktlog's ratio against it is pure overhead. */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct tally {
    uint64_t packets;
    uint64_t bytes;
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct tally *t = (struct tally *)user;

    t->packets++;
    t->bytes += h->caplen;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    struct tally t = { 0, 0 };

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.pcap\n", argv[0]);
        return 2;
    }
    /* The clock starts before the open so the baseline pays what pktlog pays: open + read all. */
    double start = now_seconds();
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (p == NULL) {
        fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], err);
        return 1;
    }
    int rc;
    while ((rc = pcap_dispatch(p, -1, on_packet, (u_char *)&t)) > 0)
        ;
    double secs = now_seconds() - start;
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("packets=%llu bytes=%llu seconds=%.6f\n", (unsigned long long)t.packets,
           (unsigned long long)t.bytes, secs);
    return 0;
}
