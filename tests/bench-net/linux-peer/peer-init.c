/*
 * The Linux benchmark peer's /init: brings up the e1000 and serves the bench service contract
 * (docs/bench-net.md), so that `make bench-net` measures Linux with the same host client as Ward.
 *
 *   UDP 7     echo, counted in udp_rx
 *   TCP 7     echo until the client closes
 *   TCP 9     sink: read to EOF, answer the byte count as 8 bytes little-endian
 *   TCP 19    source: read an 8-byte little-endian count N, send N bytes of the pattern
 *   TCP 80    busybox httpd serving /www/bench/10MiB (the pattern, written at boot)
 *   UDP 9000  counters: "tsc=<u64> idle_tsc=<u64> udp_rx=<u64>\n"
 *
 * The pattern is byte i = i % 251. Everything it needs comes from the kernel command line, which
 * the benchmark driver writes: peer_ip=A.B.C.D/PREFIX peer_gw=A.B.C.D, and peer_mode=ipc to run
 * the pipe round-trip benchmark (/bin/pipe-rtt) instead of serving, then power off.
 *
 * It is PID 1 in an initramfs that holds nothing else but busybox, the e1000 module (and any
 * module it depends on, in /lib/modules/load-order) and /bin/pipe-rtt; see scripts/linux-peer.sh.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The contract's ports. */
enum { PORT_ECHO = 7, PORT_SINK = 9, PORT_SOURCE = 19, PORT_HTTP = 80, PORT_COUNTERS = 9000 };
/* The contract's pattern: byte i of every generated stream is i % PATTERN_PERIOD. */
#define PATTERN_PERIOD 251
/* The HTTP file: GET /bench/10MiB answers exactly this many bytes. */
#define HTTP_FILE_DIR "/www/bench"
#define HTTP_FILE HTTP_FILE_DIR "/10MiB"
#define HTTP_FILE_BYTES (10u * 1024 * 1024)
/* Copy buffer of the TCP services: a few segments per system call, small next to guest RAM. */
#define IO_CHUNK 65536
/* Largest UDP datagram the echo answers (the IPv4 maximum payload). */
#define UDP_MAX 65507
/* Pending connections per listener: the benchmark opens one at a time; room for a retry. */
#define LISTEN_BACKLOG 16
/* How long to wait for the NIC's interface to appear after its module loaded. */
#define NETDEV_WAIT_MS 5000

static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* The console is a serial port: one write per line keeps lines whole. */
    ssize_t ignored = write(2, "peer: ", 6);
    ignored = write(2, line, (size_t)n);
    (void)ignored;
}

/* Init must never exit (the kernel would panic): stop the machine instead, saying why. */
static void die(const char *what)
{
    say("error: %s: %s; powering off", what, strerror(errno));
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- The kernel command line ---------------------------------------------------------------- */

static char cmdline[4096];

/* The value of "key=value" on the kernel command line, or NULL. */
static const char *cmdline_value(const char *key, char *out, size_t out_len)
{
    size_t key_len = strlen(key);
    for (const char *p = cmdline; *p;) {
        while (*p == ' ' || *p == '\n')
            p++;
        const char *end = p + strcspn(p, " \n");
        if ((size_t)(end - p) > key_len && strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
            size_t n = (size_t)(end - p) - key_len - 1;
            if (n >= out_len)
                n = out_len - 1;
            memcpy(out, p + key_len + 1, n);
            out[n] = 0;
            return out;
        }
        p = end;
    }
    return NULL;
}

static void read_cmdline(void)
{
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd < 0)
        die("open /proc/cmdline");
    ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
    close(fd);
    cmdline[n > 0 ? n : 0] = 0;
}

/* ---- Bringing the machine up ---------------------------------------------------------------- */

static void mount_basics(void)
{
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mkdir("/dev", 0755);
    if (mount("proc", "/proc", "proc", 0, NULL) < 0)
        die("mount /proc");
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
        die("mount /sys");
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
        die("mount /dev");
    /* The initramfs has no device nodes, so the kernel could not give init a console. */
    int console = open("/dev/console", O_RDWR);
    if (console >= 0) {
        dup2(console, 0);
        dup2(console, 1);
        dup2(console, 2);
        if (console > 2)
            close(console);
    }
}

/* Loads the modules named in /lib/modules/load-order, dependencies first (the build wrote it). */
static void load_modules(void)
{
    FILE *order = fopen("/lib/modules/load-order", "r");
    if (!order)
        die("open /lib/modules/load-order");
    char name[256];
    while (fgets(name, sizeof name, order)) {
        name[strcspn(name, "\n")] = 0;
        if (!name[0])
            continue;
        char path[300];
        snprintf(path, sizeof path, "/lib/modules/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(path);
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            die(path);
        close(fd);
    }
    fclose(order);
}

/* The first interface that is not the loopback, waiting for it to register. */
static void find_nic(char name[IFNAMSIZ])
{
    for (int waited = 0; waited < NETDEV_WAIT_MS; waited += 10) {
        struct if_nameindex *list = if_nameindex();
        if (list) {
            for (struct if_nameindex *i = list; i->if_index; i++) {
                if (strcmp(i->if_name, "lo") != 0) {
                    snprintf(name, IFNAMSIZ, "%s", i->if_name);
                    if_freenameindex(list);
                    return;
                }
            }
            if_freenameindex(list);
        }
        usleep(10000);
    }
    errno = ENODEV;
    die("no network interface appeared after loading the NIC driver");
}

static void set_up(int s, const char *ifname)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("SIOCSIFFLAGS");
}

static void set_address(int s, const char *ifname, unsigned long request, struct in_addr a)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr = a;
    if (ioctl(s, request, &ifr) < 0)
        die(request == SIOCSIFADDR ? "SIOCSIFADDR" : "SIOCSIFNETMASK");
}

/* peer_ip=A.B.C.D/PREFIX and peer_gw=A.B.C.D from the command line, set on the NIC. */
static void configure_network(void)
{
    char ip_text[64], gw_text[64], ifname[IFNAMSIZ];
    if (!cmdline_value("peer_ip", ip_text, sizeof ip_text) || !cmdline_value("peer_gw", gw_text, sizeof gw_text)) {
        errno = EINVAL;
        die("the kernel command line lacks peer_ip=A.B.C.D/PREFIX or peer_gw=A.B.C.D");
    }
    char *slash = strchr(ip_text, '/');
    int prefix = slash ? atoi(slash + 1) : 24;
    if (slash)
        *slash = 0;
    struct in_addr ip, gw, mask;
    if (!inet_aton(ip_text, &ip) || !inet_aton(gw_text, &gw) || prefix < 1 || prefix > 32) {
        errno = EINVAL;
        die("peer_ip or peer_gw is not an IPv4 address (with a prefix length 1..32)");
    }
    mask.s_addr = htonl(0xffffffffu << (32 - prefix));

    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket");
    set_up(s, "lo");
    find_nic(ifname);
    set_address(s, ifname, SIOCSIFADDR, ip);
    set_address(s, ifname, SIOCSIFNETMASK, mask);
    set_up(s, ifname);

    struct rtentry route = {0};
    struct sockaddr_in *dst = (struct sockaddr_in *)&route.rt_dst;
    struct sockaddr_in *gateway = (struct sockaddr_in *)&route.rt_gateway;
    struct sockaddr_in *genmask = (struct sockaddr_in *)&route.rt_genmask;
    dst->sin_family = gateway->sin_family = genmask->sin_family = AF_INET;
    gateway->sin_addr = gw;
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(s, SIOCADDRT, &route) < 0)
        die("SIOCADDRT (default route)");
    close(s);
    say("%s is %s/%d, gateway %s", ifname, ip_text, prefix, gw_text);
}

/* ---- The services --------------------------------------------------------------------------- */

/* A period of the pattern repeated to fill a chunk, so that any offset is one slice of it. */
static uint8_t pattern[IO_CHUNK + PATTERN_PERIOD];

static void fill_pattern(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i % PATTERN_PERIOD);
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void write_http_file(void)
{
    mkdir("/www", 0755);
    mkdir(HTTP_FILE_DIR, 0755);
    int fd = open(HTTP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create " HTTP_FILE);
    for (uint64_t done = 0; done < HTTP_FILE_BYTES;) {
        size_t n = HTTP_FILE_BYTES - done < IO_CHUNK ? HTTP_FILE_BYTES - done : IO_CHUNK;
        if (write_all(fd, pattern + done % PATTERN_PERIOD, n) < 0)
            die("write " HTTP_FILE);
        done += n;
    }
    close(fd);
}

static int listener(int type, int port)
{
    int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    if (type == SOCK_STREAM && listen(s, LISTEN_BACKLOG) < 0)
        die("listen");
    return s;
}

static void serve_echo(int c)
{
    static uint8_t buf[IO_CHUNK];
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(c, buf, (size_t)n) < 0)
            return;
    }
}

static void serve_sink(int c)
{
    static uint8_t buf[IO_CHUNK];
    uint64_t count = 0;
    for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (n == 0)
            break;
        count += (uint64_t)n;
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(count >> (8 * i));
    write_all(c, le, sizeof le);
}

static void serve_source(int c)
{
    uint8_t le[8];
    size_t got = 0;
    while (got < sizeof le) {
        ssize_t n = read(c, le + got, sizeof le - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        got += (size_t)n;
    }
    uint64_t total = 0;
    for (int i = 0; i < 8; i++)
        total |= (uint64_t)le[i] << (8 * i);
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < IO_CHUNK ? (size_t)(total - done) : IO_CHUNK;
        if (write_all(c, pattern + done % PATTERN_PERIOD, n) < 0)
            return;
        done += n;
    }
}

/* Accepts one connection and serves it in a child process, the classic Unix server shape. */
static void accept_into_child(int listen_fd, void (*serve)(int))
{
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        serve(c);
        shutdown(c, SHUT_RDWR);
        _exit(0);
    }
    close(c);
}

static uint64_t udp_rx;
/* The TSC and the monotonic clock when init started: their ratio converts idle ns to ticks. */
static uint64_t start_tsc, start_ns;
/* TSC ticks per monotonic ns, measured from init's start to the first counters request and
 * kept from then on, so that idle_tsc never runs backwards. */
static long double ticks_per_ns;
/* TSC ticks this service spent reading /proc/timer_list for earlier answers. */
static uint64_t counters_overhead;

/* Idle nanoseconds since boot over all CPUs, from the per-CPU tick state in /proc/timer_list.
 * It is exact to the nanosecond and leaves out interrupts taken while idle (/proc/stat and
 * /proc/uptime round to 10 ms, too coarse for a few thousand packets). */
static uint64_t idle_ns(void)
{
    /* Opened once: re-reading from offset 0 costs less than opening the file each time. */
    static int fd = -1;
    static char text[1 << 16];
    if (fd < 0 && (fd = open("/proc/timer_list", O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    size_t len = 0;
    for (;;) {
        ssize_t n = pread(fd, text + len, sizeof text - 1 - len, (off_t)len);
        if (n <= 0 || len + (size_t)n >= sizeof text - 1) {
            if (n > 0)
                len += (size_t)n;
            break;
        }
        len += (size_t)n;
    }
    text[len] = 0;
    uint64_t total = 0;
    for (const char *p = text; (p = strstr(p, "_sleeptime :")) != NULL; p++) {
        /* ".idle_sleeptime : N nsecs" and ".iowait_sleeptime : N nsecs": both are idle. */
        total += strtoull(p + strlen("_sleeptime :"), NULL, 10);
    }
    return total;
}

/*
 * The contract's counters line. tsc is read first; the CPU is busy from then on, so the idle time
 * read afterwards is the idle time at that TSC. Reading /proc/timer_list costs some 500,000
 * instructions, which Ward's idle counter does not: the ticks earlier answers spent on it are
 * added to idle_tsc, so that Δtsc − Δidle_tsc between two answers counts the guest's work and
 * not this service's own bookkeeping.
 */
static void answer_counters(int s)
{
    uint8_t request[64];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    if (recvfrom(s, request, sizeof request, 0, (struct sockaddr *)&from, &from_len) < 0)
        return;
    uint64_t tsc = rdtsc();
    uint64_t ns = monotonic_ns();
    uint64_t idle = idle_ns();
    if (ticks_per_ns == 0)
        ticks_per_ns = ns > start_ns ? (long double)(tsc - start_tsc) / (long double)(ns - start_ns) : 1.0L;
    uint64_t idle_tsc = (uint64_t)((long double)idle * ticks_per_ns) + counters_overhead;
    counters_overhead += rdtsc() - tsc;
    char line[128];
    int n = snprintf(line, sizeof line, "tsc=%llu idle_tsc=%llu udp_rx=%llu\n", (unsigned long long)tsc,
                     (unsigned long long)idle_tsc, (unsigned long long)udp_rx);
    sendto(s, line, (size_t)n, 0, (struct sockaddr *)&from, from_len);
}

static void answer_echo(int s)
{
    static uint8_t buf[UDP_MAX];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);
    if (n < 0)
        return;
    udp_rx++;
    sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len);
}

static void start_httpd(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char port[8];
        snprintf(port, sizeof port, "%d", PORT_HTTP);
        execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", "/www", (char *)NULL);
        die("exec busybox httpd");
    }
}

static void serve_forever(void)
{
    int udp_echo = listener(SOCK_DGRAM, PORT_ECHO);
    int counters = listener(SOCK_DGRAM, PORT_COUNTERS);
    int tcp_echo = listener(SOCK_STREAM, PORT_ECHO);
    int sink = listener(SOCK_STREAM, PORT_SINK);
    int source = listener(SOCK_STREAM, PORT_SOURCE);
    start_httpd();
    struct pollfd fds[] = {
        {.fd = udp_echo, .events = POLLIN}, {.fd = counters, .events = POLLIN},
        {.fd = tcp_echo, .events = POLLIN}, {.fd = sink, .events = POLLIN},
        {.fd = source, .events = POLLIN},
    };
    say("serving echo 7, sink 9, source 19, http 80, counters 9000");
    for (;;) {
        if (poll(fds, sizeof fds / sizeof fds[0], -1) < 0)
            continue;
        if (fds[0].revents & POLLIN)
            answer_echo(udp_echo);
        if (fds[1].revents & POLLIN)
            answer_counters(counters);
        if (fds[2].revents & POLLIN)
            accept_into_child(tcp_echo, serve_echo);
        if (fds[3].revents & POLLIN)
            accept_into_child(sink, serve_sink);
        if (fds[4].revents & POLLIN)
            accept_into_child(source, serve_source);
    }
}

/* peer_mode=ipc: run the pipe round-trip benchmark, then power off. */
static void run_ipc_benchmark(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        execl("/bin/pipe-rtt", "pipe-rtt", (char *)NULL);
        die("exec /bin/pipe-rtt");
    }
    int status = 0;
    waitpid(pid, &status, 0);
    say("pipe-rtt exited with status %d; powering off", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    sync();
    reboot(RB_POWER_OFF);
}

int main(void)
{
    start_tsc = rdtsc();
    start_ns = monotonic_ns();
    mount_basics();
    read_cmdline();
    char mode[32];
    if (cmdline_value("peer_mode", mode, sizeof mode) && strcmp(mode, "ipc") == 0) {
        run_ipc_benchmark();
        die("power off failed");
    }
    /* Children (one per connection) are reaped by the kernel, never left as zombies. */
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    fill_pattern();
    load_modules();
    configure_network();
    /* The link comes up in the background (the driver's watchdog) while the file is written. */
    write_http_file();
    serve_forever();
    return 0;
}
