/*
 * bingo_sim: run the bingo_receiver sketch in simavr and expose its UART0 as a pty.
 *
 *   bingo_sim FIRMWARE.hex --mcu atmega328p [--freq 16000000] [--eeprom FILE] [--status FILE]
 *             [--eeprom-write-us 3400] [--parent PID]
 *   bingo_sim --flash FLASH.bin --bootloader BOOT.hex --fuses 0xFF,0xDE,0xFD --reset-on-open [--eeprom ...]
 *
 * FIRMWARE is the shipped Intel HEX file (hardware/firmware/, what a real board gets), or an ELF from a build.
 * The second form is a board as it comes out of the box: its program flash is the file FLASH.bin (created
 * holding only the bootloader (Optiboot, ATmegaBOOT, or a Mega's stk500v2 one), erased elsewhere; saved shortly after the bootloader rewrites it, like the
 * EEPROM), the fuses put the reset vector at the boot section (BOOTRST, BOOTSZ), and every time a host opens
 * the pty the chip gets an external reset, as the DTR line resets a real Uno (the bootloader then waits ~1 s
 * for avrdude before starting the sketch).
 *
 * Prints "PTY /dev/pts/N" on stdout once the board is running; open that path with pyserial exactly as a
 * real Arduino's port. The simulated clock is paced to the wall clock (never more than 20 us ahead), so the
 * sketch's millis()-based time-outs and the host's read time-outs mean the same as on a real board.
 *
 *   SIGUSR1  write "<request number> <simulated CPU cycles>" to the --status file (host asks for the clock)
 *   SIGTERM  save the EEPROM to the --eeprom file and exit 0 (a clean power-off)
 * --parent PID (default: the runner's parent at start) is the program the board is plugged into: when it is gone
 * -- killed, crashed, a notebook kernel restarted -- the runner powers off as on SIGTERM, within ~10 ms (checked
 * with getppid(), so a parent that died before the runner's first look counts too; PR_SET_PDEATHSIG would
 * fire when the *thread* that started the runner ends, which in a notebook need not be the kernel's end).
 * --eeprom-write-us 3400 makes each EEPROM byte write busy for that long, as on an ATmega (simavr writes
 * instantly; instant is the default so that tests flash quickly).
 * The EEPROM file is also rewritten (atomically) before the board sends its next byte after the sketch changed
 * the EEPROM (and every 50 ms while it keeps changing it), so a killed runner keeps what the board had written
 * when it answered -- like a real board losing power.
 *
 * The pty is served by the AVR thread itself (simavr's uart_pty part relays through a thread of its own that
 * polls every 500 us; and on a busy computer the board's clock runs on while that thread waits for a CPU).
 * Where simavr 1.6 differs from an ATmega328P in ways a stop-and-wait protocol feels, this runner puts the
 * chip's behaviour back (each spot says why): UART bytes take 10 bit times (8N1), not 11; a byte the sketch
 * sends reaches the pty when its stop bit ends; a new watchdog period applies at once; optionally, EEPROM writes
 * take 3.4 ms.
 * Pacing is tight (board time stays within ~20 us of the wall clock): a stop-and-wait host feels every
 * microsecond the board runs ahead of it, because its answer can only enter the board's "present".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>

#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_hex.h"
#include "sim_io.h"
#include "sim_cycle_timers.h"
#include "avr_eeprom.h"
#include "avr_uart.h"
#include "avr_watchdog.h"

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t cycles_requested = 0;
static pid_t parent_pid = 0;  /* --parent */
static unsigned long status_requests = 0;

static avr_t *avr;
static int reset_on_open = 0;  /* --reset-on-open (see check_host_connection) */
static int host_connected = 0;
static unsigned long external_resets = 0;
static int pty_master = -1;  /* our end of the pty; the host opens the other (slave) end */
static const char *eeprom_path = NULL;
static const char *status_path = NULL;
static uint8_t saved_eeprom[8192];
static uint32_t eeprom_size = 0;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }

/* Once the runner's parent has died, getppid() names whoever adopted it (init or a subreaper). */
static void stop_if_parent_gone(void) {
    if (stop_requested || getppid() == parent_pid) return;
    fprintf(stderr, "bingo_sim: the program that started it (pid %d) has gone: powering off\n", (int)parent_pid);
    stop_requested = 1;
}
static void on_cycles(int sig) { (void)sig; cycles_requested = 1; }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* SIGUSR1 and SIGTERM arrive at any moment, and their handlers are installed without SA_RESTART (so that they
 * end the pacing naps at once): every read and write of the runner retries when a signal interrupts it, and a
 * write goes on after a short one. Only a write the pty refuses (EAGAIN: its buffer full, nobody reading) loses
 * bytes, as a board's bytes are lost when no host listens. Returns the bytes written. */
static size_t write_all(int fd, const void *data, size_t size) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, (const uint8_t *)data + done, size - done);
        if (n > 0) done += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else break;
    }
    return done;
}

static ssize_t read_retrying(int fd, void *buffer, size_t size) {
    ssize_t n;
    do n = read(fd, buffer, size); while (n < 0 && errno == EINTR);
    return n;
}

/* Write a whole file under a temporary name, then rename: readers never see half a file. */
static int write_atomically(const char *path, const void *data, size_t size) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int ok = write_all(fd, data, size) == size;
    ok = (close(fd) == 0) && ok;
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
    if (write_atomically(eeprom_path, ee, eeprom_size) != 0)  /* saved_eeprom unchanged: tried again later */
        fprintf(stderr, "bingo_sim: cannot write EEPROM file %s: %s\n", eeprom_path, strerror(errno));
    else
        memcpy(saved_eeprom, ee, eeprom_size);
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

/* Program flash kept in a file (--flash): the bootloader rewrites it through SPM; saved like the EEPROM. */
static const char *flash_path = NULL;
static uint8_t *saved_flash = NULL;
static uint32_t flash_size = 0;

static void save_flash_if_changed(void) {
    if (!flash_path || !saved_flash || memcmp(avr->flash, saved_flash, flash_size) == 0) return;
    if (write_atomically(flash_path, avr->flash, flash_size) != 0)
        fprintf(stderr, "bingo_sim: cannot write flash file %s: %s\n", flash_path, strerror(errno));
    else
        memcpy(saved_flash, avr->flash, flash_size);
}

/* The flash file if it holds a whole flash image, else an erased chip with only the bootloader on it. */
static int load_flash(const char *bootloader) {
    flash_size = avr->flashend + 1;
    saved_flash = malloc(flash_size);
    FILE *f = fopen(flash_path, "rb");
    size_t got = 0;
    if (f) { got = fread(avr->flash, 1, flash_size, f); fclose(f); }
    if (got != flash_size) {
        memset(avr->flash, 0xFF, flash_size);  /* erased flash reads 0xFF */
        ihex_chunk_p chunks = NULL;
        int count = bootloader ? read_ihex_chunks(bootloader, &chunks) : 0;
        if (count <= 0) { fprintf(stderr, "bingo_sim: cannot read bootloader %s\n", bootloader ? bootloader : "(none)"); return -1; }
        for (int i = 0; i < count; i++) {
            if (chunks[i].baseaddr + chunks[i].size > flash_size) {  /* a real chip would wrap it onto the sketch */
                fprintf(stderr, "bingo_sim: bootloader %s runs past the end of flash (0x%X)\n", bootloader,
                        chunks[i].baseaddr + chunks[i].size);
                return -1;
            }
            memcpy(avr->flash + chunks[i].baseaddr, chunks[i].data, chunks[i].size);
        }
        free_ihex_chunks(chunks);
    }
    memset(saved_flash, 0, flash_size);  /* differs from the flash: the first save writes the file */
    avr->codeend = avr->flashend;        /* code may live anywhere: it is a bootloader's to write */
    return 0;
}

/* The sketch as an Intel HEX file, the very bytes a bootloader writes into a real board's flash (an ELF would
 * add nothing the chip has: its .eeprom section is empty and the hex leaves it out). */
static int load_hex(const char *path) {
    ihex_chunk_p chunks = NULL;
    int count = read_ihex_chunks(path, &chunks);
    if (count <= 0) { fprintf(stderr, "bingo_sim: cannot read %s\n", path); return -1; }
    uint32_t end = 0;
    for (int i = 0; i < count; i++) {
        if (chunks[i].baseaddr + chunks[i].size > avr->flashend + 1) {
            fprintf(stderr, "bingo_sim: %s does not fit this chip's flash\n", path);
            free_ihex_chunks(chunks);
            return -1;
        }
        memcpy(avr->flash + chunks[i].baseaddr, chunks[i].data, chunks[i].size);
        if (chunks[i].baseaddr + chunks[i].size > end) end = chunks[i].baseaddr + chunks[i].size;
    }
    free_ihex_chunks(chunks);
    avr->codeend = end;  /* as simavr's ELF loader sets it: where the program ends */
    return 0;
}

/* Fuses as on a real chip (ATmega328P datasheet 27.8, ATmega2560 28.8): BOOTRST programmed (0) moves the reset
 * vector to the boot section, whose size BOOTSZ1:0 gives (11 = 256 words ... 00 = 2048 words on the 328P; twice
 * that on the 2560). simavr 1.6 stores fuses but does not act on them, so the runner does. */
static void apply_fuses(const char *fuses) {
    unsigned low = 0xFF, high = 0xFF, ext = 0xFF;
    if (sscanf(fuses, "%x,%x,%x", &low, &high, &ext) < 2) { fprintf(stderr, "bingo_sim: bad --fuses %s\n", fuses); return; }
    avr->fuse[0] = (uint8_t)low; avr->fuse[1] = (uint8_t)high; avr->fuse[2] = (uint8_t)ext;
    if (!(high & 0x01)) {
        uint32_t boot_words = (flash_size > 65536 ? 512u : 256u) << (3 - ((high >> 1) & 3));
        avr->reset_pc = flash_size - 2 * boot_words;
    }
    fprintf(stderr, "bingo_sim: fuses L=%02X H=%02X E=%02X, reset vector at 0x%04X\n", low, high, ext, avr->reset_pc);
}

static void write_status(void) {
    if (!status_path) return;
    char line[64];
    int n = snprintf(line, sizeof line, "%lu %llu\n", ++status_requests, (unsigned long long)avr->cycle);
    write_atomically(status_path, line, (size_t)n);
}

/* Host bytes: read from the pty by the main loop (it wakes from its pacing naps as soon as the host writes),
 * handed to UART0 while it has room (XON/XOFF: its receive fifo holds 63 bytes; the sketch's frames fit).
 * Each byte then takes one byte time of board time to arrive, as on the wire (simavr's receive pump). */
static avr_uart_t *uart0;
static avr_cycle_count_t uart0_corrected = 0;
static avr_irq_t *uart0_input;
static int uart0_has_room = 0;  /* until the sketch enables the receiver, host bytes wait here */
static uint8_t host_bytes[4096];
static unsigned host_head = 0, host_tail = 0;  /* read from the pty / handed to the UART (free-running) */

/* simavr 1.6 times a UART byte as 1 start + data + 1 parity + stop bits, parity or not: 11 bit times for
 * the sketch's 8N1, where the ATmega328P datasheet (and a real board) take 10. Put the 10 back, so the
 * simulated wire runs at the real 115 200-baud byte rate (re-checked because every baud change resets it). */
static void correct_uart_byte_time(void) {
    if (!uart0 || uart0->cycles_per_byte == uart0_corrected || uart0->cycles_per_byte % 11) return;
    uart0->cycles_per_byte = uart0->cycles_per_byte / 11 * 10;
    uart0_corrected = uart0->cycles_per_byte;
    fprintf(stderr, "bingo_sim: UART0 byte time set to %u cycles (10 bits)\n", (unsigned)uart0_corrected);
}

/* --reset-on-open boards also check the host's baud rate (a pty carries none, so it is read from the termios
 * the host set): when it is more than 5 % off the chip's, bytes arrive as garbage both ways -- here inverted --
 * as a real UART mis-samples them. That is what makes a 57 600-baud bootloader different from a 115 200 one. */
static unsigned long host_baud = 0;  /* 0: not known (and then not checked) */

static unsigned long baud_of(speed_t speed) {
    static const struct { speed_t code; unsigned long baud; } rates[] = {
        {B1200, 1200}, {B2400, 2400}, {B4800, 4800}, {B9600, 9600}, {B19200, 19200}, {B38400, 38400},
        {B57600, 57600}, {B115200, 115200}, {B230400, 230400}, {B460800, 460800}, {B500000, 500000},
        {B921600, 921600}, {B1000000, 1000000}};
    for (unsigned i = 0; i < sizeof rates / sizeof rates[0]; i++) if (rates[i].code == speed) return rates[i].baud;
    return 0;
}

static int wrong_baud(void) {
    if (!host_baud || !uart0 || !uart0_corrected) return 0;
    double chip = 10.0 * avr->frequency / uart0->cycles_per_byte;  /* 10 bit times per byte (8N1) */
    return chip < host_baud * 0.95 || chip > host_baud * 1.05;
}

static void feed_uart(void) {
    correct_uart_byte_time();  /* before the first byte's time is taken */
    while (uart0_has_room && host_tail != host_head) {
        uint8_t byte = host_bytes[host_tail++ % sizeof host_bytes];
        avr_raise_irq(uart0_input, wrong_baud() ? (uint8_t)~byte : byte);  /* may say XOFF: loop ends */
    }
}

static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)value; (void)param;
    uart0_has_room = 1;
    feed_uart();
}

static void uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)param;
    if (value) uart0_has_room = 0;
}

static void read_host_bytes(void) {
    while (host_head - host_tail < sizeof host_bytes) {
        unsigned at = host_head % sizeof host_bytes, room = sizeof host_bytes - (host_head - host_tail);
        if (room > sizeof host_bytes - at) room = sizeof host_bytes - at;  /* up to the end of the ring */
        ssize_t n = read_retrying(pty_master, host_bytes + at, room);
        if (n <= 0) break;  /* EAGAIN: all read; EIO: nobody has the port open (only with --reset-on-open) */
        host_head += (unsigned)n;
    }
    feed_uart();
}

/* Every 50 us of board time: apply the byte-time correction soon after the sketch sets the baud rate (its
 * answers are timed with it too), and hand over any host bytes still waiting. */
static avr_cycle_count_t feed_uart_timer(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a; (void)param;
    feed_uart();
    return when + avr->frequency / 20000;
}

/* Bytes the sketch sends go from the AVR thread straight to the pty (through uart_pty they would wait for
 * its thread's next 500 us poll: a stop-and-wait host pays that per frame) -- at the board time a real
 * host would have the byte: when its stop bit ends, one byte time after the shift register takes it, and
 * never before the byte ahead of it is out (simavr announces a byte when UDR is written, 10 bits early). */
#define TX_QUEUE 256  /* power of two; simavr's UDRE pacing keeps at most ~2 bytes in flight */
static struct { uint8_t byte; avr_cycle_count_t due; } tx_queue[TX_QUEUE];
static unsigned tx_head = 0, tx_tail = 0;
static avr_cycle_count_t tx_line_free = 0;  /* board time at which the last queued byte's stop bit ends */

static avr_cycle_count_t deliver_board_bytes(avr_t *a, avr_cycle_count_t when, void *param) {
    (void)a; (void)param;
    while (tx_tail != tx_head && tx_queue[tx_tail % TX_QUEUE].due <= when) {
        uint8_t byte = tx_queue[tx_tail++ % TX_QUEUE].byte;
        if (reset_on_open && !host_connected) continue;  /* nobody has the port open: the byte is lost */
        if (wrong_baud()) byte = (uint8_t)~byte;
        /* A chip's EEPROM (and flash) hold what it wrote before it says so: a power cut after the host heard
         * the answer to COMMIT (or to a bootloader's page write) must keep it. So the files are brought up to
         * date before any byte leaves -- a memcmp when nothing changed. */
        save_eeprom_if_changed();
        save_flash_if_changed();
        write_all(pty_master, &byte, 1);  /* not written: nobody reading and the pty is full, the byte is lost */
    }
    return tx_tail != tx_head ? tx_queue[tx_tail % TX_QUEUE].due : 0;
}

static void board_byte_out(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)param;
    if (tx_head - tx_tail >= TX_QUEUE) return;  /* cannot happen at UART speed; never block the AVR */
    avr_cycle_count_t start = avr->cycle > tx_line_free ? avr->cycle : tx_line_free;
    tx_line_free = start + (uart0 ? uart0->cycles_per_byte : avr->frequency / 11520);
    tx_queue[tx_head % TX_QUEUE].byte = (uint8_t)value;
    tx_queue[tx_head % TX_QUEUE].due = tx_line_free;
    if (tx_tail == tx_head++)  /* the queue was empty: no delivery pending */
        avr_cycle_timer_register(avr, tx_line_free - avr->cycle, deliver_board_bytes, NULL);
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

/* Watchdog: simavr 1.6 applies a new prescaler only at the next WDR (its write handler compares the new WDP with
 * itself), where the chip applies it at once. Optiboot gives up on a bad byte by setting 16 ms and waiting: in
 * simavr that took its earlier 1 s. Chained after simavr's WDTCSR handler (which has already computed the new
 * period), the pending watchdog timeout is brought forward to it. */
static avr_watchdog_t *watchdog_io;

static void watchdog_control_written(avr_t *a, avr_io_addr_t addr, uint8_t value, void *param) {
    (void)addr; (void)value; (void)param;
    if (!avr_regbit_get(a, watchdog_io->wde) && !avr_regbit_get(a, watchdog_io->watchdog.enable)) return;
    for (avr_cycle_timer_slot_p slot = a->cycle_timers.timer; slot; slot = slot->next) {
        if (slot->param == watchdog_io && slot->when > a->cycle + watchdog_io->cycle_count) {
            avr_cycle_timer_register(a, watchdog_io->cycle_count, slot->timer, watchdog_io);
            return;
        }
    }
}

/* Every reset (an external one below, or the watchdog's, which the bootloader uses to start the sketch)
 * clears simavr's cycle timers and the UART: set the runner's UART plumbing up again, as on a fresh chip.
 * Bytes on their way in either direction are lost, as a reset loses them on a real board. */
static void after_reset(avr_io_t *io) {
    (void)io;
    tx_tail = tx_head;
    tx_line_free = avr->cycle;
    host_tail = host_head;
    uart0_has_room = 0;
    uart0_corrected = 0;
    avr_cycle_timer_register(avr, avr->frequency / 20000, feed_uart_timer, NULL);
}
static avr_io_t reset_hook = { .kind = "bingo_sim reset", .reset = after_reset };

/* --reset-on-open, DTR as on a real Uno: DTR rises when the first program opens the port and falls when the
 * last one closes it; the rising edge resets the chip (EXTRF set, so the bootloader waits for an upload). The
 * runner learns of opens and closes from inotify, which queues every one of them: a close followed at once by
 * an open is still two events, however late the runner gets to read them (polling the pty for POLLHUP is not:
 * a quick reopen hides the close). */
static int open_events = -1;   /* inotify fd watching the pty's slave device */
static int host_opens = 0;     /* how many programs have the port open now */

static void external_reset(void) {
    tcflush(pty_master, TCIOFLUSH);  /* nothing said before the open (or to the previous host) is heard */
    avr_reset(avr);
    avr_regbit_set(avr, avr->reset_flags.extrf);
    fprintf(stderr, "bingo_sim: port opened: external reset %lu\n", ++external_resets);
}

static void check_host_connection(void) {
    char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read_retrying(open_events, buffer, sizeof buffer)) > 0) {
        for (char *at = buffer; at < buffer + n; at += sizeof(struct inotify_event) + ((struct inotify_event *)at)->len) {
            uint32_t mask = ((struct inotify_event *)at)->mask;
            if (mask & IN_OPEN) { if (host_opens++ == 0) external_reset(); }
            if ((mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) && host_opens > 0) host_opens--;
        }
    }
    host_connected = host_opens > 0;
    struct termios tio;  /* on a pty master, tcgetattr reads the termios the host set on its end */
    host_baud = host_connected && tcgetattr(pty_master, &tio) == 0 ? baud_of(cfgetospeed(&tio)) : 0;
}

int main(int argc, char **argv) {
    const char *firmware = NULL, *mcu = "atmega328p", *bootloader = NULL, *fuses = NULL;
    unsigned long freq = 16000000UL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mcu") && i + 1 < argc) mcu = argv[++i];
        else if (!strcmp(argv[i], "--freq") && i + 1 < argc) freq = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--eeprom") && i + 1 < argc) eeprom_path = argv[++i];
        else if (!strcmp(argv[i], "--status") && i + 1 < argc) status_path = argv[++i];
        else if (!strcmp(argv[i], "--eeprom-write-us") && i + 1 < argc) eeprom_write_us = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--flash") && i + 1 < argc) flash_path = argv[++i];
        else if (!strcmp(argv[i], "--bootloader") && i + 1 < argc) bootloader = argv[++i];
        else if (!strcmp(argv[i], "--fuses") && i + 1 < argc) fuses = argv[++i];
        else if (!strcmp(argv[i], "--reset-on-open")) reset_on_open = 1;
        else if (!strcmp(argv[i], "--parent") && i + 1 < argc) parent_pid = (pid_t)strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !firmware) firmware = argv[i];
        else { fprintf(stderr, "usage: %s FIRMWARE.hex|.elf [--mcu M] [--freq HZ] [--eeprom FILE] [--status FILE] [--eeprom-write-us US] [--flash FILE --bootloader HEX --fuses L,H,E --reset-on-open] [--parent PID]\n", argv[0]); return 2; }
    }
    if (!parent_pid) parent_pid = getppid();
    stop_if_parent_gone();  /* before anything is built: a board nobody can reach never starts */
    if (stop_requested) return 0;
    if (!firmware && !flash_path) { fprintf(stderr, "bingo_sim: no firmware (or --flash) given\n"); return 2; }

    avr = avr_make_mcu_by_name(mcu);
    if (!avr) { fprintf(stderr, "bingo_sim: simavr does not know MCU %s\n", mcu); return 1; }
    avr_init(avr);
    size_t name_length = firmware ? strlen(firmware) : 0;
    if (firmware && name_length > 4 && !strcmp(firmware + name_length - 4, ".hex")) {
        avr->frequency = freq;
        if (load_hex(firmware) != 0) return 1;
        avr_reset(avr);  /* power-on, from address 0 (a board with no bootloader) */
    } else if (firmware) {
        elf_firmware_t f;
        memset(&f, 0, sizeof f);
        if (elf_read_firmware(firmware, &f) != 0) { fprintf(stderr, "bingo_sim: cannot read %s\n", firmware); return 1; }
        f.frequency = freq;
        strncpy(f.mmcu, mcu, sizeof f.mmcu - 1);
        avr_load_firmware(avr, &f);
    } else {
        avr->frequency = freq;
        if (load_flash(bootloader) != 0) return 1;
        if (fuses) apply_fuses(fuses);
        avr_reset(avr);  /* power-on: from the (possibly moved) reset vector, MCUSR = PORF */
        avr_regbit_set(avr, avr->reset_flags.porf);
    }
    avr->log = LOG_ERROR;
    avr_register_io(avr, &reset_hook);
    eeprom_size = avr->e2end + 1;
    if (eeprom_size > sizeof saved_eeprom) eeprom_size = sizeof saved_eeprom;
    load_eeprom();

    /* The pty: raw bytes both ways, never blocking the AVR thread. We keep the slave end open ourselves, or
     * the master would report EOF/EIO whenever no host has it open (between two pyserial handles). */
    char pty_name[256];
    int keep_open = -1;
    if (openpty(&pty_master, &keep_open, pty_name, NULL, NULL) != 0) {
        fprintf(stderr, "bingo_sim: cannot create a pty: %s\n", strerror(errno));
        return 1;
    }
    struct termios tio;
    if (tcgetattr(pty_master, &tio) == 0) { cfmakeraw(&tio); tcsetattr(pty_master, TCSANOW, &tio); }
    if (tcgetattr(keep_open, &tio) == 0) { cfmakeraw(&tio); tcsetattr(keep_open, TCSANOW, &tio); }
    if (reset_on_open) {  /* see check_host_connection; the watch is set before our own slave fd closes */
        open_events = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (open_events < 0 || inotify_add_watch(open_events, pty_name, IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) < 0) {
            fprintf(stderr, "bingo_sim: cannot watch %s for opens: %s\n", pty_name, strerror(errno));
            return 1;
        }
        close(keep_open);
        keep_open = -1;
        char drain[4096];
        while (read_retrying(open_events, drain, sizeof drain) > 0) {}  /* our own close (and nothing else yet) */
    }
    fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);

    for (avr_io_t *io = avr->io_port; io; io = io->next) {
        if (io->kind && !strcmp(io->kind, "uart") && ((avr_uart_t *)io)->name == '0') uart0 = (avr_uart_t *)io;
        if (io->kind && !strcmp(io->kind, "eeprom")) eeprom_io = (avr_eeprom_t *)io;
        if (io->kind && !strcmp(io->kind, "watchdog")) watchdog_io = (avr_watchdog_t *)io;
    }
    if (watchdog_io) avr_register_io_write(avr, watchdog_io->wdce.reg, watchdog_control_written, NULL);
    if (eeprom_write_us && eeprom_io) avr_register_io_write(avr, eeprom_io->r_eecr, eeprom_control_written, NULL);
    uart0_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), board_byte_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff, NULL);
    after_reset(NULL);  /* the UART feed timer */
    /* simavr usleep()s 1 us whenever the sketch reads UCSR0A with nothing received (HardwareSerial::write
     * does, per byte): a CPU-saving hack that makes the board stall ~60 us of wall time. Pacing saves CPU. */
    uint32_t uart_flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &uart_flags);
    uart_flags &= ~(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);  /* STDIO: binary frames, not text */
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &uart_flags);
    /* Naps end within a few us instead of Linux's default 50 us timer slack (see pacing below). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_cycles;
    sigaction(SIGUSR1, &sa, NULL);
    /* (A signal sent before this point ends the process by default: the host has no pty path yet anyway.) */

    printf("PTY %s\n", pty_name);
    fflush(stdout);
    write_status();

    double start = now_seconds();
    double last_save = start, last_open_check = start, last_parent_check = start;
    int exit_code = 0;
    for (unsigned long step = 0; !stop_requested; step++) {
        int state = avr_run(avr);
        if (state == cpu_Crashed && reset_on_open) {
            /* A half-written sketch can run into something simavr cannot execute. A real chip would run on
             * into nonsense until the next reset, so wait for one: opening the port resets it as on a board. */
            fprintf(stderr, "bingo_sim: the simulated CPU crashed (pc 0x%04X); it restarts when the port is opened\n",
                    avr->pc);
            while (!stop_requested && avr->state == cpu_Crashed) {
                struct timespec wait = { 0, 1000000 };
                nanosleep(&wait, NULL);
                check_host_connection();
                stop_if_parent_gone();
            }
            start = now_seconds() - (double)avr->cycle / avr->frequency;  /* the clock stood still meanwhile */
            continue;
        }
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "bingo_sim: the simulated CPU stopped (state %d)\n", state);
            exit_code = 1;
            break;
        }
        if (cycles_requested) { cycles_requested = 0; write_status(); }
        if ((step & 31) == 0) {  /* ~3 us of board time; clock_gettime is a vDSO call, cheap at this rate */
            double now = now_seconds();
            double ahead = (double)avr->cycle / avr->frequency - (now - start);
            /* Pace to real time: a real Uno does not run faster than 16 MHz. Only 20 us ahead at most: host
             * bytes that arrive while the board naps enter at the board's (future) time, so every us it runs
             * ahead is a us of latency added to each request in board time. The nap ends early when the
             * host writes, so its bytes are read (and the clock checked) at once. */
            if (ahead > 0.00002) {
                struct timespec nap = { 0, (long)(ahead * 1e9) };
                struct pollfd host = { .fd = pty_master, .events = POLLIN, .revents = 0 };
                if (ppoll(&host, 1, &nap, NULL) > 0) {
                    if ((host.revents & POLLIN) && host_head - host_tail < sizeof host_bytes) read_host_bytes();
                    else nanosleep(&nap, NULL);  /* no room for them, or an error state: never run ahead */
                }
            } else {
                if (ahead < -0.05)
                    start = now - (double)avr->cycle / avr->frequency - 0.05;  /* starved of CPU: don't race to catch up */
                if (ahead < -0.0001 && (step & 255) == 0) read_host_bytes();  /* behind, so no naps: look every ~25 us */
            }
            if (reset_on_open && now - last_open_check > 0.001) { check_host_connection(); last_open_check = now; }
            if (now - last_parent_check > 0.01) { stop_if_parent_gone(); last_parent_check = now; }
            if (now - last_save > 0.05) { save_eeprom_if_changed(); save_flash_if_changed(); last_save = now; }
        }
    }
    save_eeprom_if_changed();
    save_flash_if_changed();
    write_status();
    fflush(stdout);
    _exit(exit_code);
}
