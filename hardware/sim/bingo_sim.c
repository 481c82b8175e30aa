/*
 * bingo_sim: run the bingo_receiver sketch in simavr and expose its UART0 as a pty.
 *
 *   bingo_sim FIRMWARE.elf --mcu atmega328p [--freq 16000000] [--eeprom FILE] [--status FILE]
 *             [--eeprom-write-us 3400]
 *
 * Prints "PTY /dev/pts/N" on stdout once the board is running; open that path with pyserial exactly as a
 * real Arduino's port. The simulated clock is paced to the wall clock (never runs ahead of it), so the
 * sketch's millis()-based time-outs and the host's read time-outs mean the same as on a real board.
 *
 *   SIGUSR1  write "<request number> <simulated CPU cycles>" to the --status file (host asks for the clock)
 *   SIGTERM  save the EEPROM to the --eeprom file and exit 0 (a clean power-off)
 * --eeprom-write-us 3400 makes each EEPROM byte write busy for that long, as on an ATmega (simavr writes
 * instantly; instant is the default so that tests flash quickly).
 * The EEPROM file is also rewritten (atomically) shortly after the sketch changes the EEPROM, so even a
 * killed runner keeps what was committed -- like a real board losing power.
 *
 * Where simavr 1.6 differs from an ATmega328P in ways a stop-and-wait protocol feels, this runner puts the
 * chip's behaviour back (each spot says why): UART bytes take 10 bit times (8N1), not 11; bytes the sketch
 * sends reach the pty at once; host bytes reach the UART within 50 us; optionally, EEPROM writes take 3.4 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_cycle_timers.h"
#include "avr_eeprom.h"
#include "avr_uart.h"
#include "uart_pty.h"

DEFINE_FIFO(uint8_t, uart_pty_fifo);  /* uart_pty.h only declares the fifo accessors */

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t cycles_requested = 0;
static unsigned long status_requests = 0;

static avr_t *avr;
static uart_pty_t uart_pty;
static const char *eeprom_path = NULL;
static const char *status_path = NULL;
static uint8_t saved_eeprom[8192];
static uint32_t eeprom_size = 0;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_cycles(int sig) { (void)sig; cycles_requested = 1; }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Write a whole file under a temporary name, then rename: readers never see half a file. */
static int write_atomically(const char *path, const void *data, size_t size) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) { unlink(tmp); return -1; }
    return 0;
}

static uint8_t *eeprom_bytes(void) {
    avr_eeprom_desc_t desc = { .ee = NULL, .offset = 0, .size = eeprom_size };
    avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &desc);
    return desc.ee;
}

static void save_eeprom_if_changed(void) {
    if (!eeprom_path || !eeprom_size) return;
    uint8_t *ee = eeprom_bytes();
    if (!ee || memcmp(ee, saved_eeprom, eeprom_size) == 0) return;
    memcpy(saved_eeprom, ee, eeprom_size);
    if (write_atomically(eeprom_path, saved_eeprom, eeprom_size) != 0)
        fprintf(stderr, "bingo_sim: cannot write EEPROM file %s: %s\n", eeprom_path, strerror(errno));
}

static void load_eeprom(void) {
    memset(saved_eeprom, 0xFF, sizeof saved_eeprom);  /* an erased EEPROM reads 0xFF */
    if (eeprom_path) {
        FILE *f = fopen(eeprom_path, "rb");
        if (f) {
            size_t got = fread(saved_eeprom, 1, eeprom_size, f);
            fclose(f);
            if (got != eeprom_size) memset(saved_eeprom, 0xFF, sizeof saved_eeprom);  /* wrong board: erase */
        }
    }
    avr_eeprom_desc_t desc = { .ee = saved_eeprom, .offset = 0, .size = eeprom_size };
    avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &desc);
}

static void write_status(void) {
    if (!status_path) return;
    char line[64];
    int n = snprintf(line, sizeof line, "%lu %llu\n", ++status_requests, (unsigned long long)avr->cycle);
    write_atomically(status_path, line, (size_t)n);
}

/* uart_pty hands host bytes to the AVR from a 1 kHz timer; stop-and-wait frames would then wait up to
 * 1 ms of board time each. Draining its host->AVR fifo (`pty.out`; `pty.in` is AVR->host) every 50 us of
 * board time keeps that latency small. Like uart_pty's own timer this runs on the AVR thread, so the fifo
 * keeps a single consumer. */
static avr_uart_t *uart0;
static avr_cycle_count_t uart0_corrected = 0;

/* simavr 1.6 times a UART byte as 1 start + data + 1 parity + stop bits, parity or not: 11 bit times for
 * the sketch's 8N1, where the ATmega328P datasheet (and a real board) take 10. Put the 10 back, so the
 * simulated wire runs at the real 115 200-baud byte rate (re-checked because every baud change resets it). */
static void correct_uart_byte_time(void) {
    if (!uart0 || uart0->cycles_per_byte == uart0_corrected || uart0->cycles_per_byte % 11) return;
    uart0->cycles_per_byte = uart0->cycles_per_byte / 11 * 10;
    uart0_corrected = uart0->cycles_per_byte;
    fprintf(stderr, "bingo_sim: UART0 byte time set to %u cycles (10 bits)\n", (unsigned)uart0_corrected);
}

static avr_cycle_count_t flush_host_bytes(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a; (void)param;
    correct_uart_byte_time();
    while (uart_pty.xon && !uart_pty_fifo_isempty(&uart_pty.pty.out))
        avr_raise_irq(uart_pty.irq + IRQ_UART_PTY_BYTE_OUT, uart_pty_fifo_read(&uart_pty.pty.out));
    return when + avr->frequency / 20000;
}

/* Bytes the sketch sends go straight from the AVR thread to the pty, the moment it writes UDR. (Through
 * uart_pty they would wait for its thread's next 500 us poll: a stop-and-wait host pays that per frame.) */
static void board_byte_out(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)param;
    uint8_t byte = (uint8_t)value;
    if (write(uart_pty.pty.s, &byte, 1) != 1) { /* nobody reading and the pty is full: the byte is lost */ }
}

/* EEPROM write time: simavr writes a byte and clears EEPE at once; silicon keeps EEPE set ~3.4 ms while it
 * programs the cell, and avr-libc waits for EEPE before every EEPROM access. Chained after simavr's own
 * EECR handler: after a programming write, set EEPE again and clear it once the write time has passed. */
static avr_eeprom_t *eeprom_io;
static unsigned long eeprom_write_us = 0;

static avr_cycle_count_t eeprom_write_done(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)when; (void)param;
    avr_regbit_clear(a, eeprom_io->eepe);
    return 0;
}

static void eeprom_control_written(avr_t *a, avr_io_addr_t addr, uint8_t value, void *param) {
    (void)addr; (void)param;
    const avr_regbit_t eepe = eeprom_io->eepe, eempe = eeprom_io->eempe;
    /* A programming write sets EEPE while EEMPE is set (sbi keeps EEMPE in the written value). */
    if ((value & (eepe.mask << eepe.bit)) && (value & (eempe.mask << eempe.bit))) {
        avr_regbit_set(a, eepe);
        avr_cycle_timer_register_usec(a, eeprom_write_us, eeprom_write_done, NULL);
    }
}

int main(int argc, char **argv) {
    const char *firmware = NULL, *mcu = "atmega328p";
    unsigned long freq = 16000000UL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mcu") && i + 1 < argc) mcu = argv[++i];
        else if (!strcmp(argv[i], "--freq") && i + 1 < argc) freq = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--eeprom") && i + 1 < argc) eeprom_path = argv[++i];
        else if (!strcmp(argv[i], "--status") && i + 1 < argc) status_path = argv[++i];
        else if (!strcmp(argv[i], "--eeprom-write-us") && i + 1 < argc) eeprom_write_us = strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !firmware) firmware = argv[i];
        else { fprintf(stderr, "usage: %s FIRMWARE.elf [--mcu M] [--freq HZ] [--eeprom FILE] [--status FILE] [--eeprom-write-us US]\n", argv[0]); return 2; }
    }
    if (!firmware) { fprintf(stderr, "bingo_sim: no firmware given\n"); return 2; }

    elf_firmware_t f;
    memset(&f, 0, sizeof f);
    if (elf_read_firmware(firmware, &f) != 0) { fprintf(stderr, "bingo_sim: cannot read %s\n", firmware); return 1; }
    f.frequency = freq;
    strncpy(f.mmcu, mcu, sizeof f.mmcu - 1);
    avr = avr_make_mcu_by_name(mcu);
    if (!avr) { fprintf(stderr, "bingo_sim: simavr does not know MCU %s\n", mcu); return 1; }
    avr_init(avr);
    avr_load_firmware(avr, &f);
    avr->log = LOG_ERROR;
    eeprom_size = avr->e2end + 1;
    if (eeprom_size > sizeof saved_eeprom) eeprom_size = sizeof saved_eeprom;
    load_eeprom();

    /* uart_pty_init starts a thread, which inherits this thread's signal mask. Block our signals there, so
     * SIGTERM/SIGUSR1 always land on this (the AVR) thread and never interrupt the pty thread's I/O. */
    sigset_t ours, previous;
    sigemptyset(&ours);
    sigaddset(&ours, SIGTERM);
    sigaddset(&ours, SIGINT);
    sigaddset(&ours, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &ours, &previous);
    uart_pty_init(avr, &uart_pty);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    uart_pty_connect(&uart_pty, '0');
    for (avr_io_t *io = avr->io_port; io; io = io->next) {
        if (io->kind && !strcmp(io->kind, "uart") && ((avr_uart_t *)io)->name == '0') uart0 = (avr_uart_t *)io;
        if (io->kind && !strcmp(io->kind, "eeprom")) eeprom_io = (avr_eeprom_t *)io;
    }
    if (eeprom_write_us && eeprom_io) avr_register_io_write(avr, eeprom_io->r_eecr, eeprom_control_written, NULL);
    avr_irq_t *uart_out = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT);
    avr_unconnect_irq(uart_out, uart_pty.irq + IRQ_UART_PTY_BYTE_IN);
    avr_irq_register_notify(uart_out, board_byte_out, NULL);
    fcntl(uart_pty.pty.s, F_SETFL, fcntl(uart_pty.pty.s, F_GETFL) | O_NONBLOCK);  /* never stall the AVR */
    avr_cycle_timer_register(avr, avr->frequency / 20000, flush_host_bytes, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_cycles;
    sigaction(SIGUSR1, &sa, NULL);
    /* A signal sent before the handlers existed was held pending (blocked) or ended the process (default):
     * from here on, only the handlers run. */

    /* Hold the pty's other end open ourselves: otherwise, once a host closes its handle, the master side
     * reports EOF forever and uart_pty's thread spins on it (a full CPU core, and junk fed to the AVR). */
    int keep_open = open(uart_pty.pty.slavename, O_RDWR | O_NOCTTY);
    if (keep_open >= 0) {
        struct termios tio;
        if (tcgetattr(keep_open, &tio) == 0) { cfmakeraw(&tio); tcsetattr(keep_open, TCSANOW, &tio); }
    }
    printf("PTY %s\n", uart_pty.pty.slavename);
    fflush(stdout);
    write_status();

    double start = now_seconds();
    double last_save = start;
    int exit_code = 0;
    for (unsigned long step = 0; !stop_requested; step++) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "bingo_sim: the simulated CPU stopped (state %d)\n", state);
            exit_code = 1;
            break;
        }
        if (cycles_requested) { cycles_requested = 0; write_status(); }
        if ((step & 255) == 0) {
            double now = now_seconds();
            double ahead = (double)avr->cycle / avr->frequency - (now - start);
            if (ahead > 0.0001) {  /* pace to real time: a real Uno does not run faster than 16 MHz */
                struct timespec nap = { 0, (long)(ahead * 1e9) };
                nanosleep(&nap, NULL);
            } else if (ahead < -0.05) {
                start = now - (double)avr->cycle / avr->frequency - 0.05;  /* starved of CPU: don't race to catch up */
            }
            if (now - last_save > 0.05) { save_eeprom_if_changed(); last_save = now; }
        }
    }
    save_eeprom_if_changed();
    write_status();
    fflush(stdout);
    _exit(exit_code);  /* the pty thread dies with the process; joining it could block on a busy pty */
}
