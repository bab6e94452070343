// Which functions a program runs, exactly: an int3 on the first byte of every function of a PIE executable; the
// first time any thread reaches one, the tracer writes "PHASE OFFSET" and puts the byte back. SIGUSR1 to the tracer
// starts the next phase: every function is armed again, so each phase lists all it ran, not only what was new.
// Used by bench/code-order (sampling misses the many small functions a request runs once; this does not).
// Berth gives back its start-up code with MADV_DONTNEED, which also erases the traps: the tracer watches one trap
// that has not fired and, when it is gone, starts a phase of its own with every trap set again (what runs after the
// release is what stays resident). OUT marks each phase's start: "# PHASE signal|release".
// Threads are followed (PTRACE_O_TRACECLONE), forked children are not: one would inherit the traps and die of the
// first. Berth starts no process on the traced paths (PAM as root reads the shadow file itself).
//   code_order_tracer FUNCTIONS OUT -- PROGRAM ARGS...   FUNCTIONS: hex link-time addresses, one a line
#define _GNU_SOURCE
#if !defined(__x86_64__)
#error "code_order_tracer reads x86_64 registers (rip) and assumes the one-byte int3"
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long *functions;
static size_t function_count;
static unsigned char *seen;
static unsigned long load_base, text_start, text_end;
static unsigned char *original_text;
static volatile sig_atomic_t next_phase_requested;

static void request_next_phase(int signal_number) { (void)signal_number; next_phase_requested = 1; }

static int compare(const void *a, const void *b) {
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

static long function_index(unsigned long offset) {
    unsigned long *found = bsearch(&offset, functions, function_count, sizeof *functions, compare);
    return found ? found - functions : -1;
}

// Reads or writes the traced process's memory. False once the process is gone (its memory reads as end of file).
static int transfer(int fd, unsigned char *buffer, size_t length, unsigned long address, int writing) {
    for (size_t done = 0; done < length;) {
        ssize_t n = writing ? pwrite(fd, buffer + done, length - done, address + done)
                            : pread(fd, buffer + done, length - done, address + done);
        if (n < 0 && errno == EINTR) continue;  // SIGUSR1 arrives without SA_RESTART
        if (n == 0 || (n < 0 && (errno == ESRCH || errno == EIO))) return 0;
        if (n < 0) { perror("code_order_tracer: /proc/PID/mem"); exit(1); }
        done += n;
    }
    return 1;
}

// Writing the text back with one 0xCC per function start is safe while threads run: every other byte is written
// with the value it has, and a function start is either its old byte or the trap.
static void arm_all(int memory) {
    size_t length = text_end - text_start;
    unsigned char *armed = malloc(length);
    memcpy(armed, original_text, length);
    for (size_t i = 0; i < function_count; i++)
        if (functions[i] >= text_start && functions[i] < text_end) armed[functions[i] - text_start] = 0xCC;
    transfer(memory, armed, length, load_base + text_start, 1);
    free(armed);
    memset(seen, 0, function_count);
}

// True when the traps were erased: the lowest or the highest function that has not fired shows its own byte again.
// Both lie on whole pages of the text (a release leaves partial pages), the high one so that a release still under
// way when the traps were set again is noticed too.
static size_t sentinel_low, sentinel_high;
static unsigned long whole_pages_start, whole_pages_end;

static int watchable(size_t i) {
    return !seen[i] && functions[i] >= whole_pages_start && functions[i] < whole_pages_end;
}

static int erased(int memory, size_t i) {
    unsigned char current;
    return transfer(memory, &current, 1, load_base + functions[i], 0) && current != 0xCC;
}

static void reset_sentinels(void) {
    sentinel_low = 0;
    sentinel_high = function_count;
}

static int traps_erased(int memory) {
    while (sentinel_low < function_count && !watchable(sentinel_low)) sentinel_low++;
    while (sentinel_high > 0 && !watchable(sentinel_high - 1)) sentinel_high--;
    if (sentinel_low < function_count && erased(memory, sentinel_low)) return 1;
    return sentinel_high > 0 && erased(memory, sentinel_high - 1);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void read_functions(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); exit(2); }
    size_t capacity = 1 << 18;
    functions = malloc(capacity * sizeof *functions);
    char line[64];
    while (fgets(line, sizeof line, file)) {
        if (function_count == capacity) functions = realloc(functions, (capacity *= 2) * sizeof *functions);
        functions[function_count++] = strtoul(line, 0, 16);
    }
    fclose(file);
    qsort(functions, function_count, sizeof *functions, compare);
    size_t unique = 0;
    for (size_t i = 0; i < function_count; i++)
        if (!unique || functions[i] != functions[unique - 1]) functions[unique++] = functions[i];
    function_count = unique;
    seen = calloc(function_count, 1);
}

// The executable's load address and its executable segment, from /proc/PID/maps right after exec.
static void find_text(pid_t child) {
    char path[64], executable[4096], line[8192];
    snprintf(path, sizeof path, "/proc/%d/exe", child);
    ssize_t n = readlink(path, executable, sizeof executable - 1);
    if (n <= 0) { perror(path); exit(1); }
    executable[n] = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", child);
    FILE *maps = fopen(path, "r");
    int first = 1;
    while (fgets(line, sizeof line, maps)) {
        unsigned long low, high, offset;
        char permissions[8], mapped[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &low, &high, permissions, &offset, mapped) < 4) continue;
        if (strcmp(mapped, executable)) continue;
        if (first) { load_base = low - offset; first = 0; }
        if (permissions[2] == 'x') { text_start = low - load_base; text_end = high - load_base; }
    }
    fclose(maps);
    if (text_end == 0) { fprintf(stderr, "code_order_tracer: no executable segment\n"); exit(1); }
    long page = sysconf(_SC_PAGESIZE);
    whole_pages_start = (text_start + page - 1) / page * page;
    whole_pages_end = text_end / page * page;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--")) {
        fprintf(stderr, "usage: code_order_tracer FUNCTIONS OUT -- PROGRAM ARGS...\n");
        return 2;
    }
    read_functions(argv[1]);
    FILE *out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 2; }
    setvbuf(out, 0, _IOLBF, 0);
    struct sigaction action = {0};
    action.sa_handler = request_next_phase;  // no SA_RESTART: waitpid returns EINTR and the loop re-arms
    sigaction(SIGUSR1, &action, 0);

    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execv(argv[4], argv + 4);
        perror(argv[4]);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);  // stopped after exec, before the loader ran
    ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
    find_text(child);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", child);
    int memory = open(path, O_RDWR);
    original_text = malloc(text_end - text_start);
    if (!transfer(memory, original_text, text_end - text_start, load_base + text_start, 0)) return 1;
    arm_all(memory);
    fprintf(stderr, "code_order_tracer: %zu functions armed\n", function_count);
    ptrace(PTRACE_CONT, child, 0, 0);

    int phase = 1;
    size_t recorded = 0, events = 0;
    double last_release = 0;
    reset_sentinels();
    for (;;) {
        if (next_phase_requested) {
            next_phase_requested = 0;
            arm_all(memory);
            reset_sentinels();
            fprintf(out, "# %d signal\n", ++phase);
            fprintf(stderr, "code_order_tracer: phase %d (%zu records before it)\n", phase, recorded);
        }
        pid_t thread = waitpid(-1, &status, __WALL | WNOHANG);
        if ((thread == 0 || ++events % 64 == 0) && traps_erased(memory)) {
            arm_all(memory);
            reset_sentinels();
            if (now() - last_release > 1.0) {  // else the same release, still going when the traps were set again
                fprintf(out, "# %d release\n", ++phase);
                fprintf(stderr, "code_order_tracer: traps erased (a release), phase %d\n", phase);
            }
            last_release = now();
        }
        if (thread == 0) {
            usleep(1000);
            continue;
        }
        if (thread < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (thread == child) break;
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        int signal_number = WSTOPSIG(status);
        if (status >> 16 == PTRACE_EVENT_CLONE || signal_number == SIGSTOP) {  // a new thread starts stopped
            ptrace(PTRACE_CONT, thread, 0, 0);
            continue;
        }
        if (signal_number == SIGTRAP) {
            struct user_regs_struct registers;
            if (ptrace(PTRACE_GETREGS, thread, 0, &registers) != 0) continue;  // the thread is going (exit)
            unsigned long offset = registers.rip - 1 - load_base;
            long index = function_index(offset);
            if (index >= 0) {
                // Another thread may have met the same trap first: then the byte is back already.
                unsigned char current;
                if (transfer(memory, &current, 1, registers.rip - 1, 0) && current == 0xCC)
                    transfer(memory, &original_text[offset - text_start], 1, registers.rip - 1, 1);
                if (!seen[index]) {
                    seen[index] = 1;
                    recorded++;
                    fprintf(out, "%d %lx\n", phase, offset);
                }
                registers.rip -= 1;
                ptrace(PTRACE_SETREGS, thread, 0, &registers);
                ptrace(PTRACE_CONT, thread, 0, 0);
                continue;
            }
        }
        ptrace(PTRACE_CONT, thread, 0, signal_number);
    }
    fprintf(stderr, "code_order_tracer: %zu records in %d phases\n", recorded, phase);
    return 0;
}
