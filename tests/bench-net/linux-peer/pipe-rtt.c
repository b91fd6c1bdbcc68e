/*
 * Linux's natural counterpart of Ward's Call+ReplyRecv round trip between address spaces: one
 * byte through a pipe to a second process and one byte back through another pipe, on one CPU.
 * Each round trip is read with rdtsc on its own; the program prints the median with its spread,
 * and the raw null system call (getppid) for scale, in the same line shape as Ward's kernel
 * benchmark (tests/ktest/src/bench.rs):
 *
 *   bench: <name>: median N cycles (p10 N, p90 N, min N, max N; RUNS runs)
 *
 * Under QEMU's -icount shift=0,align=off one TSC tick is one guest instruction, so the figures
 * are instructions (the benchmark driver boots it that way).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The same counts as Ward's kernel benchmark, so both medians rest on as many samples. */
#define RUNS 2001
#define WARM_UP 100

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *samples)
{
    qsort(samples, RUNS, sizeof samples[0], by_value);
#define AT(percent) samples[(RUNS - 1) * (percent) / 100]
    printf("bench: %s: median %llu cycles (p10 %llu, p90 %llu, min %llu, max %llu; %d runs)\n", name,
           (unsigned long long)AT(50), (unsigned long long)AT(10), (unsigned long long)AT(90),
           (unsigned long long)samples[0], (unsigned long long)samples[RUNS - 1], RUNS);
#undef AT
    fflush(stdout);
}

static uint64_t samples[RUNS];

static void null_syscall(void)
{
    for (int i = 0; i < WARM_UP + RUNS; i++) {
        uint64_t t0 = rdtsc();
        syscall(SYS_getppid);
        uint64_t t1 = rdtsc();
        if (i >= WARM_UP)
            samples[i - WARM_UP] = t1 - t0;
    }
    report("null syscall (getppid)", samples);
}

static int pipe_round_trips(void)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) < 0 || pipe(to_parent) < 0) {
        perror("pipe-rtt: pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("pipe-rtt: fork");
        return 1;
    }
    char byte = 0;
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        while (read(to_child[0], &byte, 1) == 1)
            if (write(to_parent[1], &byte, 1) != 1)
                break;
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    for (int i = 0; i < WARM_UP + RUNS; i++) {
        uint64_t t0 = rdtsc();
        if (write(to_child[1], &byte, 1) != 1 || read(to_parent[0], &byte, 1) != 1) {
            perror("pipe-rtt: round trip");
            return 1;
        }
        uint64_t t1 = rdtsc();
        if (i >= WARM_UP)
            samples[i - WARM_UP] = t1 - t0;
    }
    close(to_child[1]);
    waitpid(pid, NULL, 0);
    report("pipe round trip between two processes", samples);
    return 0;
}

int main(void)
{
    null_syscall();
    return pipe_round_trips();
}
